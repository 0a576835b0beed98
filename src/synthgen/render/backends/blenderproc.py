"""BlenderProc backend: the same Scene rendered through BlenderProc 2.8's API, in-process with the bpy module.

BlenderProc 2.8.0 expects to run inside Blender's own Python (`blenderproc run`). This module is the
one place that knows how to use it from a plain Python with the `bpy` wheel:

- Its `__init__` only sets up when INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT is set, and
  then strips its own site-packages from `sys.path` and pip-installs pinned packages into a
  Blender folder. We set OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT
  instead (its own escape hatch, so `__init__` imports nothing) and import the `blenderproc.api.*`
  modules ourselves; their dependencies come from our `blenderproc` extra.
- `bproc.init()` sets the UI language to en_US, which the bpy wheel rejects; we run its other
  steps (clean-up, Cycles, CPU devices, default parameters) and mark it initialised.
- BlenderProc never sets its temporary folder outside `blenderproc run`; we point it at ours.
- Its quiet render mode redirects fd 1 into a pipe read by a progress-bar thread, which hangs
  when stdout is captured; we render in its verbose mode.

`load_blenderproc()` checks the versions it was written for and fails loudly on any other pair.
Labels come from the object-index pass, as in the Blender backend: BlenderProc's `instance`
segmentation map is that pass, and we give labelled objects their `instance_id` as pass index.
Visibility, amodal masks and truncation are computed as the Blender backend does
(`blender_passes`: one lone data render per labelled object, plain bpy, after BlenderProc's render).
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from synthgen.errors import BackendError
from synthgen.render.backends.blender import GROUND_SIZE, PRIMITIVE_OPS, normalise_mesh
from synthgen.render.backends.blender_device import forget_inherited_blender_paths
from synthgen.render.backends.blender_passes import lone_masks, truncated_ids
from synthgen.render.backends.composite import composite, cover
from synthgen.render.scene import Render, RenderOrigin, Scene, SceneObject

SUPPORTED = {"blenderproc": "2.8.0", "bpy": "4.5"}
API_MODULES = ("object", "loader", "camera", "renderer", "types", "world", "material", "writer")
ESCAPE_HATCH = "OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"
BPROC_PRIMITIVES = {"cube", "cylinder", "cone", "plane", "sphere", "monkey"}
NO_HIT_DEPTH = 1e4  # BlenderProc writes a large finite depth where nothing was hit


class BlenderProcAdapterError(BackendError):
    """BlenderProc cannot be used in-process here (missing, or a version this adapter does not know)."""


def load_blenderproc() -> SimpleNamespace:
    """Import BlenderProc's API without its in-Blender set-up; the modules as `bproc.<name>`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = {"blenderproc": version("blenderproc"), "bpy": version("bpy")}
    except PackageNotFoundError:
        raise BlenderProcAdapterError("blenderproc is not installed: pip install 'synthgen[blenderproc]'") from None
    if not found["blenderproc"] == SUPPORTED["blenderproc"] or not found["bpy"].startswith(SUPPORTED["bpy"] + "."):
        raise BlenderProcAdapterError(
            f"blenderproc {found['blenderproc']} with bpy {found['bpy']}: this adapter was written for blenderproc "
            f"{SUPPORTED['blenderproc']} with bpy {SUPPORTED['bpy']}.x; check backends/blenderproc.py against the new versions"
        )
    os.environ.pop("INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT", None)
    os.environ[ESCAPE_HATCH] = "1"
    import bpy  # noqa: F401  (puts Blender's own modules, e.g. bmesh, on the path)

    try:
        modules = {name: importlib.import_module(f"blenderproc.api.{name}") for name in API_MODULES}
    except ImportError as error:
        raise BlenderProcAdapterError(f"cannot import BlenderProc's API: {error}") from None
    return SimpleNamespace(**modules)


def _initialise(bpy, temp_dir: Path) -> None:
    """`bproc.init()` without its UI-language switch, with our temporary folder."""
    from blenderproc.python.renderer import RendererUtility
    from blenderproc.python.utility.GlobalStorage import GlobalStorage
    from blenderproc.python.utility.Initializer import _Initializer, clean_up
    from blenderproc.python.utility.Utility import Utility

    Utility.temp_dir = str(temp_dir)
    GlobalStorage._storage_dict.clear()  # an earlier session's outputs and flags went with its Blender data
    clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices(use_only_cpu=True)
    _Initializer.set_default_parameters()
    GlobalStorage.set("bproc_init_complete", True)


class BlenderProcBackend:
    """Renders Scenes with BlenderProc's API (one BlenderProc session per process)."""

    name = "blenderproc"

    def __init__(self, threads: int = 0):
        forget_inherited_blender_paths()
        import bpy

        self.bpy = bpy
        self.bproc = load_blenderproc()
        self.workdir = Path(tempfile.mkdtemp(prefix="synthgen-blenderproc-"))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        _initialise(bpy, self.workdir)
        renderer = self.bproc.renderer
        renderer.set_cpu_threads(threads or os.cpu_count() or 1)
        renderer.enable_depth_output(activate_antialiasing=False)
        renderer.enable_segmentation_output(map_by=["instance", "category_id", "name"], default_values={"category_id": 0})
        self.categories: dict[str, int] = {}  # BlenderProc `category_id`s, in order of first appearance
        self.last_data: dict = {}  # BlenderProc's own outputs of the last render, for its writers

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def render(self, scene: Scene) -> Render:
        bproc, bpy = self.bproc, self.bpy
        from blenderproc.python.utility.Initializer import clean_up

        clean_up(clean_up_camera=True)
        bodies = [self._add(obj, f"{obj.category}.{obj.instance_id}") for obj in scene.objects]
        bodies += [self._add(obj, f"distractor.{i}") for i, obj in enumerate(scene.distractors)]
        ground = self._add_ground(scene) if scene.ground else None
        for light in scene.lights:
            self._add_light(light)
        self._set_world(scene)
        self._set_camera(scene)
        if scene.physics_frames:
            self._settle(bodies, ground, scene.physics_frames)
        bproc.renderer.set_max_amount_of_samples(scene.samples)
        bproc.renderer.set_noise_threshold(scene.noise_threshold)
        bproc.renderer.set_denoiser("INTEL" if scene.denoise else None)  # BlenderProc's OpenImageDenoise node
        bpy.context.scene.cycles.seed = scene.index
        bproc.renderer.set_output_format(enable_transparency=scene.background is not None)
        # verbose: its quiet mode points fd 1 at a pipe drained by a progress-bar thread, which
        # deadlocks when stdout is captured (as under pytest)
        data = self.last_data = bproc.renderer.render(output_dir=str(self.workdir), verbose=True)
        rgb = np.asarray(data["colors"][0]).astype(np.uint8)
        if scene.background:
            rgb = composite(rgb, cover(scene.background, scene.width, scene.height, scene.background_offset))
        depth = np.asarray(data["depth"][0], dtype=np.float32)
        depth = np.where(depth >= NO_HIT_DEPTH, np.inf, depth).astype(np.float32)
        instance_map = np.asarray(data["instance_segmaps"][0]).astype(np.int32)
        amodal, truncated = self._visibility(scene, [b.blender_obj for b in bodies], ground)
        origin = RenderOrigin(extra={"device": "cpu"})  # set_render_devices(use_only_cpu=True) in _initialise
        return Render(rgb=rgb, instance_map=instance_map, depth=depth, amodal=amodal, truncated=truncated, origin=origin)

    def _visibility(self, scene: Scene, meshes: list, ground) -> tuple[dict[int, np.ndarray] | None, frozenset[int]]:
        """Amodal masks (when the Scene asks) and truncated ids of the labelled objects, at BlenderProc's camera frame."""
        bpy = self.bpy
        bpy.context.scene.frame_set(bpy.context.scene.frame_start)  # BlenderProc keys its camera pose at frame_start
        labelled = meshes[: len(scene.objects)]
        everything = meshes + ([ground.blender_obj] if ground is not None else [])
        amodal = lone_masks(bpy, labelled, everything, self.workdir) if "amodal" in scene.passes else None
        return amodal, truncated_ids(bpy, scene, labelled)

    def _add(self, obj: SceneObject, name: str):
        shape = obj.mesh.split(":", 1)[1] if obj.mesh.startswith("primitive:") else None
        if shape in BPROC_PRIMITIVES:
            mesh_object = self.bproc.object.create_primitive(shape.upper())
        elif shape:
            operator, options = PRIMITIVE_OPS[shape]
            getattr(self.bpy.ops.mesh, operator)(**options)
            mesh_object = self.bproc.types.MeshObject(self.bpy.context.object)
        else:
            loaded = self.bproc.loader.load_obj(obj.mesh)
            mesh_object = loaded[0]
            if len(loaded) > 1:
                mesh_object.join_with_other_objects(loaded[1:])
        mesh_object.persist_transformation_into_mesh()
        normalise_mesh(mesh_object.blender_obj.data)
        mesh_object.set_name(name)
        mesh_object.set_scale([obj.scale] * 3)
        mesh_object.set_rotation_euler([math.radians(obj.tilt[0]), math.radians(obj.tilt[1]), math.radians(obj.yaw)])
        mesh_object.set_location(obj.location)
        mesh_object.blender_obj.pass_index = obj.instance_id
        mesh_object.set_cp("category_id", self.categories.setdefault(obj.category, len(self.categories) + 1) if obj.instance_id else 0)
        if not mesh_object.get_materials() or mesh_object.get_materials()[0] is None:
            self._paint(mesh_object, obj.color, obj.roughness, obj.metallic, obj.texture)
        return mesh_object

    def _add_ground(self, scene: Scene):
        ground = self.bproc.object.create_primitive("PLANE")
        ground.set_name("ground")
        ground.set_scale([GROUND_SIZE / 2, GROUND_SIZE / 2, 1.0])
        ground.blender_obj.pass_index = 0
        ground.set_cp("category_id", 0)
        ground.blender_obj.is_shadow_catcher = scene.background is not None
        self._paint(ground, scene.ground_color, 0.8, 0.0, None)
        return ground

    def _paint(self, mesh_object, color, roughness: float, metallic: float, texture: str | None) -> None:
        material = mesh_object.new_material(f"{mesh_object.get_name()}.material")
        material.set_principled_shader_value("Base Color", [*color, 1.0])
        material.set_principled_shader_value("Roughness", roughness)
        material.set_principled_shader_value("Metallic", metallic)
        if texture:
            material.set_principled_shader_value("Base Color", self.bpy.data.images.load(texture, check_existing=True))

    def _add_light(self, light) -> None:
        from mathutils import Vector

        lamp = self.bproc.types.Light(light_type=light.kind.upper())
        lamp.set_location(light.location)
        lamp.set_rotation_euler((-Vector(light.location)).to_track_quat("-Z", "Y").to_euler())
        lamp.set_energy(light.energy)
        lamp.set_color(light.color)
        if light.kind == "area":
            lamp.blender_obj.data.size = light.size

    def _set_world(self, scene: Scene) -> None:
        if scene.hdri:
            self.bpy.context.scene.world.use_nodes = True  # after clean_up the world has no node tree yet
            rotation = [0.0, 0.0, math.radians(scene.hdri_rotation)]
            self.bproc.world.set_world_background_hdr_img(scene.hdri, strength=scene.world_strength, rotation_euler=rotation)
        else:
            self.bproc.renderer.set_world_background(list(scene.world_color), strength=scene.world_strength)

    def _set_camera(self, scene: Scene) -> None:
        from mathutils import Matrix, Vector

        camera = self.bproc.camera
        camera.set_resolution(scene.width, scene.height)
        camera.set_intrinsics_from_blender_params(lens=scene.camera.focal_length, lens_unit="MILLIMETERS")
        self.bpy.context.scene.camera.data.sensor_width = 36.0
        direction = Vector(scene.camera.look_at) - Vector(scene.camera.location)
        rotation = direction.to_track_quat("-Z", "Y").to_matrix()
        camera.add_camera_pose(Matrix.Translation(scene.camera.location) @ rotation.to_4x4())

    def _settle(self, bodies: list, ground, frames: int) -> None:
        for body in bodies:
            body.enable_rigidbody(active=True, collision_shape="CONVEX_HULL", collision_margin=0.001, friction=0.8)
        if ground is not None:
            ground.enable_rigidbody(active=False, collision_shape="MESH", collision_margin=0.001)
        seconds = frames / self.bpy.context.scene.render.fps  # BlenderProc needs max > min: one frame more at most
        self.bproc.object.simulate_physics_and_fix_final_poses(
            min_simulation_time=seconds, max_simulation_time=seconds + 1 / self.bpy.context.scene.render.fps, check_object_interval=1
        )
