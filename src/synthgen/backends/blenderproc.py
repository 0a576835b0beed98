"""BlenderProc backend (`backend: blenderproc`): the same Scene rendered through BlenderProc's API.

BlenderProc 2.8 expects to run inside Blender's own Python. Using it with the `bpy` module needs
the adapter in `import_blenderproc` (the one place that knows BlenderProc's start-up):

- its `__init__` only loads the API when `INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT` is
  set, and then removes its own site-packages folder from `sys.path` and pip-installs its pinned
  packages into a Blender folder: we give `sys.path` a spare copy of that folder to remove and
  turn `SetupUtility.setup` into a no-op (the extra `blenderproc` installs what it imports);
- `bproc.init()` sets the UI language to `en_US`, which the bpy wheel rejects: we run the rest
  of `init` step by step (`_init_without_language`);
- `enable_segmentation_output` numbers the objects present when it is called; we redo that
  numbering for each Scene (`_number_objects_for_segmentation`);
- once imported, the process hangs at interpreter exit (bpy 4.5). So BlenderProc lives in a
  spawned child process that serves Scenes over a pipe and ends with `os._exit`; the calling
  process never imports it.

`tests/test_blenderproc.py` fails loudly when a BlenderProc or bpy upgrade breaks any of this.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from typing import Any

import numpy as np

from synthgen.backends import Render
from synthgen.scene import Scene, SceneObject

SHUTDOWN_SECONDS = 10
PRIMITIVES = {"cube": "CUBE", "sphere": "SPHERE", "cylinder": "CYLINDER", "cone": "CONE", "monkey": "MONKEY", "plane": "PLANE"}


class BlenderProcBackend:
    """Renders Scenes with BlenderProc in a child process that holds one Blender session."""

    name = "blenderproc"

    def __init__(self, threads: int = 0):
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, threads), daemon=True)
        self._process.start()
        child_end.close()
        self._expect(self._connection.recv())  # the child's "ready" (or why it could not start)

    def render(self, scene: Scene) -> Render:
        self._connection.send(scene.to_dict())
        rgb, instance_map, depth = self._expect(self._connection.recv())
        return Render(rgb=rgb, instance_map=instance_map, depth=depth)

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(SHUTDOWN_SECONDS)
            if self._process.is_alive():
                self._process.kill()
        self._connection.close()

    @staticmethod
    def _expect(message: tuple[str, Any]) -> Any:
        status, payload = message
        if status == "error":
            raise RuntimeError(f"BlenderProc: {payload}")
        return payload


def _serve(connection, threads: int) -> None:
    """Child process: import BlenderProc, then render each Scene sent until None arrives."""
    try:
        from synthgen.backends.blender import blender_output_silenced, forget_inherited_blender_paths

        forget_inherited_blender_paths()
        with blender_output_silenced():
            bproc = import_blenderproc()
            _init_without_language(bproc, threads)
        connection.send(("ok", "ready"))
        while (data := connection.recv()) is not None:
            try:
                with blender_output_silenced():
                    connection.send(("ok", _render(bproc, Scene.from_dict(data))))
            except Exception as error:  # reported to the parent as this image's failure
                connection.send(("error", f"{type(error).__name__}: {error}"))
    except Exception as error:
        connection.send(("error", f"could not start: {type(error).__name__}: {error}"))
    finally:
        sys.stdout.flush()
        os._exit(0)  # a normal exit hangs once BlenderProc is imported


def import_blenderproc():
    """Import BlenderProc's API into this (plain Python + bpy) process; see the module docstring."""
    import bpy  # noqa: F401  (BlenderProc expects Blender to be loaded)

    os.environ["OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"] = "1"
    import blenderproc
    from blenderproc.python.utility.SetupUtility import SetupUtility

    SetupUtility.setup = staticmethod(lambda *args, **kwargs: [])
    os.environ["INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT"] = "1"
    saved_path, saved_pythonpath = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(blenderproc.__file__), "..")))
    try:
        importlib.reload(blenderproc)
    finally:
        sys.path[:] = saved_path
        if saved_pythonpath is not None:
            os.environ["PYTHONPATH"] = saved_pythonpath
    return blenderproc


def _init_without_language(bproc, threads: int) -> None:
    """`bproc.init()` minus the UI-language switch, plus the outputs synthgen reads."""
    import bpy
    from blenderproc.python.renderer import RendererUtility
    from blenderproc.python.utility import Initializer
    from blenderproc.python.utility.GlobalStorage import GlobalStorage

    Initializer.clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices()
    Initializer._Initializer.set_default_parameters()
    GlobalStorage.add("bproc_init_complete", True)
    bproc.renderer.set_noise_threshold(0)
    bproc.renderer.set_denoiser(None)
    bproc.renderer.set_cpu_threads(threads)
    bproc.renderer.enable_depth_output(activate_antialiasing=False)
    bproc.renderer.enable_segmentation_output(map_by=["category_id"], default_values={"category_id": 0})


def _render(bproc, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build `scene` with BlenderProc's API and render it; instance ids ride on `category_id`.

    World and lights come from the Blender backend's shading helpers (plain bpy, same session), so
    both backends light a Scene alike; objects, materials, camera and rendering go through BlenderProc.
    """
    import bpy

    from synthgen.backends.blender_shading import add_light, add_world
    from synthgen.backends.composite import composite, cover

    bproc.clean_up(clean_up_camera=False)
    add_world(bpy, scene)
    bpy.context.scene.world["category_id"] = 0
    if scene.ground:
        ground = _load(bproc, "primitive:plane", flat=True)
        ground.set_scale([500.0, 500.0, 1.0])
        _paint(bproc, ground, scene.ground_color, 0.8, 0.0)
        ground.set_cp("category_id", 0)
    for obj in scene.objects:
        _place(bproc, obj).set_cp("category_id", obj.instance_id)
    for obj in scene.distractors:
        _place(bproc, obj).set_cp("category_id", 0)
    for i, light in enumerate(scene.lights):
        add_light(bpy, i, light, _linked)
    _set_camera(bproc, scene)
    bproc.renderer.set_max_amount_of_samples(scene.samples)
    bproc.renderer.set_output_format(enable_transparency=scene.background is not None)
    bpy.context.scene.cycles.seed = scene.index
    bpy.context.scene.cycles.max_bounces = 12
    _number_objects_for_segmentation()
    data = bproc.renderer.render(verbose=False)
    rgb = np.asarray(data["colors"][0]).astype(np.uint8)
    if scene.background:
        rgb = composite(rgb, cover(scene.background, scene.width, scene.height, scene.background_offset))
    instance_map = np.asarray(data["category_id_segmaps"][0]).astype(np.int32)
    depth = np.asarray(data["depth"][0], dtype=np.float32)
    depth = np.where(depth >= 1e9, np.inf, depth).astype(np.float32)
    return rgb[..., :3], instance_map, depth


def _place(bproc, obj: SceneObject):
    """A Scene object (labelled or distractor) loaded, posed and painted through BlenderProc."""
    mesh = _load(bproc, obj.mesh)
    mesh.set_scale([obj.scale] * 3)
    mesh.set_rotation_euler([np.radians(obj.tilt[0]), np.radians(obj.tilt[1]), np.radians(obj.yaw)])
    mesh.set_location(list(obj.location))
    if not any(mesh.get_materials()):
        _paint(bproc, mesh, obj.color, obj.roughness, obj.metallic)
    return mesh


def _linked(blender_object):
    import bpy

    bpy.context.scene.collection.objects.link(blender_object)
    return blender_object


def _set_camera(bproc, scene: Scene) -> None:
    import bpy

    camera = scene.camera
    bproc.camera.set_intrinsics_from_blender_params(
        lens=camera.focal_length, image_width=scene.width, image_height=scene.height, lens_unit="MILLIMETERS"
    )
    bpy.context.scene.camera.data.sensor_width = 36.0
    forward = np.array(camera.look_at) - np.array(camera.location)
    pose = bproc.math.build_transformation_mat(list(camera.location), bproc.camera.rotation_from_forward_vec(forward))
    bproc.camera.add_camera_pose(pose)


def _number_objects_for_segmentation() -> None:
    """What `enable_segmentation_output` does to objects, redone per Scene (it runs once, at init)."""
    from blenderproc.python.utility.BlenderUtility import get_all_blender_mesh_objects

    for index, obj in enumerate(get_all_blender_mesh_objects()):
        obj.pass_index = index + 1


def _load(bproc, mesh: str, flat: bool = False):
    """One mesh object, joined and normalised as the Blender backend does (largest side 1, on z = 0)."""
    from synthgen.backends.blender import normalise_mesh

    if mesh == "primitive:torus":  # BlenderProc has no torus primitive
        import bpy

        bpy.ops.mesh.primitive_torus_add()
        obj = bproc.types.MeshObject(bpy.context.active_object)
    elif mesh.startswith("primitive:"):
        obj = bproc.object.create_primitive(PRIMITIVES[mesh.split(":", 1)[1]])
    else:
        parts = bproc.loader.load_obj(mesh)
        if not parts:
            raise RuntimeError(f"{mesh}: holds no mesh geometry")
        obj = parts[0]
        if len(parts) > 1:
            obj.join_with_other_objects(parts[1:])
    obj.persist_transformation_into_mesh()
    normalise_mesh(obj.get_mesh(), flat=flat)
    return obj


def _paint(bproc, obj, color: tuple[float, float, float], roughness: float, metallic: float) -> None:
    material = bproc.material.create(f"{obj.get_name()}.material")
    material.set_principled_shader_value("Base Color", [*color, 1.0])
    material.set_principled_shader_value("Roughness", roughness)
    material.set_principled_shader_value("Metallic", metallic)
    obj.replace_materials(material)
