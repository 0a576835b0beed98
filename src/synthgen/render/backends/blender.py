"""Blender backend (the `bpy` module, in-process): Scene -> RGB, instance map, depth, amodal masks.

One Blender instance per worker process, kept alive across images. Meshes are imported once and
cached; everything else a Scene creates (objects, materials, lights, camera, world) is removed
before the next Scene, so memory stays flat over long runs. Labels come from the object-index
pass (exact integers). Cycles renders RGB and the data passes in one go; for Workbench, a second
one-sample Cycles render supplies the index and depth passes.

Amodal masks (for visibility): one more one-sample, zero-bounce Cycles render per labelled object
with every other object and the ground hidden. Cycles writes the index pass from each pixel's
first camera sample, which does not depend on the sample count, so a pixel where the object is
visible in the full render is also on it in its lone render: visible mask ⊆ amodal mask, exactly.
Truncation comes from geometry: an object is truncated when a vertex projects outside the frame.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from synthgen.errors import InputError
from synthgen.render.backends.blender_camera import add_camera, apply_realism
from synthgen.render.backends.blender_device import Device, forget_inherited_blender_paths, use_device
from synthgen.render.backends.blender_passes import data_render, lone_masks, read_passes, read_png, read_shadow, save_result, truncated_ids
from synthgen.render.backends.blender_physics import settle
from synthgen.render.backends.blender_shading import SCENE_MATERIAL, add_light, add_world, paint, paint_surface
from synthgen.render.backends.composite import composite, cover
from synthgen.render.scene import Render, RenderOrigin, Scene, SceneObject
from synthgen.render.stopping import deferred_interrupt

PRIMITIVE_OPS = {
    "cube": ("primitive_cube_add", {}),
    "sphere": ("primitive_uv_sphere_add", {"segments": 32, "ring_count": 16}),
    "cylinder": ("primitive_cylinder_add", {"vertices": 32}),
    "cone": ("primitive_cone_add", {"vertices": 32}),
    "torus": ("primitive_torus_add", {}),
    "monkey": ("primitive_monkey_add", {}),
    "plane": ("primitive_plane_add", {}),
}
IMPORTERS = {
    ".obj": ("wm", "obj_import"),
    ".ply": ("wm", "ply_import"),
    ".stl": ("wm", "stl_import"),
    ".glb": ("import_scene", "gltf"),
    ".gltf": ("import_scene", "gltf"),
}
GROUND_SIZE = 500.0


class AssetError(InputError):
    """A mesh file Blender could not turn into geometry."""


class BlenderBackend:
    """Renders Scenes with Blender, reusing one Blender session.

    `device`, `gpu_backend`: as in a recipe's `render:`; `slot`: this worker's GPU (see blender_device).
    """

    name = "blender"

    def __init__(self, threads: int = 0, device: str = "cpu", gpu_backend: str | None = None, slot: int | None = None, where: str = "recipe"):
        forget_inherited_blender_paths()
        import bpy

        self.bpy = bpy
        self.threads = threads
        self.workdir = Path(tempfile.mkdtemp(prefix="synthgen-blender-"))
        # removed on close() or, in workers that never call it, when the process exits
        self._remove_workdir = weakref.finalize(self, shutil.rmtree, self.workdir, ignore_errors=True)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.device: Device = use_device(bpy, device, gpu_backend, slot, where)
        self.meshes: dict[str, object] = {}
        self.labelled: list = []
        self.others: list = []

    def close(self) -> None:
        self._remove_workdir()

    def _remove_scratch(self) -> None:
        """Before a forced exit: our scratch folder and Blender's own session folder (it removes that at a normal exit)."""
        self._remove_workdir()
        shutil.rmtree(self.bpy.app.tempdir, ignore_errors=True)

    def render(self, scene: Scene) -> Render:
        """Build the scene, settle it if asked, render it, read back the pixels and passes (Ctrl-C
        is raised once Blender returns, see `stopping`)."""
        with deferred_interrupt(cleanup=self._remove_scratch), blender_output_silenced():
            self._clear()
            self._build(scene)
            self._configure(scene)
            rgb_path = self._render_to(scene.engine, "rgb.png")
            cycles = scene.engine == "cycles"
            colour = save_result(self.bpy, self.workdir / "colour.exr") if cycles and (scene.camera.sharp or scene.background) else None
            # the colour render's data passes are the labels' only when nothing blurred them
            data_path = colour if colour and scene.camera.sharp else data_render(self.bpy, self.workdir / "data.exr")
            instance_map, depth, normals = read_passes(data_path, normals="normals" in scene.passes)
            rgb = read_png(rgb_path)
            amodal = lone_masks(self.bpy, self.labelled, self.labelled + self.others, self.workdir) if "amodal" in scene.passes else None
            truncated = truncated_ids(self.bpy, scene, self.labelled)
        if scene.background:
            shadow = read_shadow(colour) if colour else None
            rgb = composite(rgb, cover(scene.background, scene.width, scene.height, scene.background_offset), shadow)
        origin = RenderOrigin(extra={"device": self.device.describe()})
        return Render(rgb, instance_map, depth, amodal=amodal, truncated=truncated, normals=normals, origin=origin)

    # --- scene building -------------------------------------------------------------------
    def _clear(self) -> None:
        """Remove what the last Scene made; cached meshes and the materials they brought stay."""
        bpy = self.bpy
        for collection in (bpy.data.objects, bpy.data.lights, bpy.data.cameras, bpy.data.worlds, bpy.data.actions):
            for block in list(collection):
                collection.remove(block)
        for material in [m for m in bpy.data.materials if m.get(SCENE_MATERIAL)]:
            bpy.data.materials.remove(material)
        self.labelled, self.others = [], []

    def _build(self, scene: Scene) -> None:
        bpy = self.bpy
        add_world(bpy, scene)
        ground = None
        if scene.ground:
            ground = self._add_object("ground", self._mesh("primitive:plane"), pass_index=0)
            ground.scale = (GROUND_SIZE, GROUND_SIZE, 1.0)
            ground.is_shadow_catcher = scene.background is not None
            paint_surface(bpy, ground, scene.ground_color, roughness=0.8)
            self.others.append(ground)
        self.labelled = [self._add_scene_object(obj, f"{obj.category}.{obj.instance_id}") for obj in scene.objects]
        self.others += [self._add_scene_object(obj, f"distractor.{i}") for i, obj in enumerate(scene.distractors)]
        for i, light in enumerate(scene.lights):
            add_light(bpy, i, light, self._link)
        add_camera(bpy, scene, self._link)
        bodies = self.labelled + self.others[1 if ground else 0 :]
        if scene.physics_frames:
            settle(bpy, bodies, ground, scene.physics_frames)
        apply_realism(bpy, scene, list(zip(bodies, [o.velocity for o in (*scene.objects, *scene.distractors)], strict=True)))

    def _add_scene_object(self, obj: SceneObject, name: str):
        blender_object = self._add_object(name, self._mesh(obj.mesh), obj.instance_id)
        blender_object.scale = (obj.scale,) * 3
        blender_object.rotation_euler = (math.radians(obj.tilt[0]), math.radians(obj.tilt[1]), math.radians(obj.yaw))
        blender_object.location = obj.location
        paint(self.bpy, blender_object, obj)
        return blender_object

    def _add_object(self, name: str, mesh: object, pass_index: int):
        blender_object = self._link(self.bpy.data.objects.new(name, mesh))
        blender_object.pass_index = pass_index
        return blender_object

    def _link(self, blender_object):
        self.bpy.context.scene.collection.objects.link(blender_object)
        return blender_object

    # --- meshes -----------------------------------------------------------------------------
    def _mesh(self, key: str):
        """The cached, normalised mesh for `primitive:<name>` or a mesh file path."""
        if key not in self.meshes:
            mesh = self._create_primitive(key.split(":", 1)[1]) if key.startswith("primitive:") else self._import(key)
            normalise_mesh(mesh, flat=key == "primitive:plane")
            if not mesh.materials:
                mesh.materials.append(None)
            mesh.use_fake_user = True
            self.meshes[key] = mesh
        return self.meshes[key]

    def _create_primitive(self, name: str):
        operator, options = PRIMITIVE_OPS[name]
        getattr(self.bpy.ops.mesh, operator)(**options)
        return self._take_mesh([self.bpy.context.active_object])

    def _import(self, path: str):
        bpy = self.bpy
        suffix = Path(path).suffix.lower()
        before = set(bpy.data.objects)
        module, operator = IMPORTERS[suffix]
        try:
            getattr(getattr(bpy.ops, module), operator)(filepath=path)
        except RuntimeError as error:
            raise AssetError(f"{path}: Blender could not import it: {str(error).strip().splitlines()[-1]}") from None
        created = [o for o in bpy.data.objects if o not in before]
        meshes = [o for o in created if o.type == "MESH"]
        for other in [o for o in created if o.type != "MESH"]:
            bpy.data.objects.remove(other)
        if not meshes:
            raise AssetError(f"{path}: holds no mesh geometry")
        mesh = self._take_mesh(meshes)
        problem = mesh_problem(mesh)
        if problem:
            raise AssetError(f"{path}: {problem}")
        return mesh

    def _take_mesh(self, objects: list):
        """Join objects into one mesh in world coordinates, remove the objects, return the mesh."""
        bpy = self.bpy
        if len(objects) > 1:
            with bpy.context.temp_override(active_object=objects[0], selected_editable_objects=objects):
                bpy.ops.object.join()
        joined = objects[0]
        mesh = joined.data
        mesh.transform(joined.matrix_world)
        joined.parent = None
        bpy.data.objects.remove(joined)
        return mesh

    # --- rendering --------------------------------------------------------------------------
    def _configure(self, scene: Scene) -> None:
        render = self.bpy.context.scene.render
        render.resolution_x, render.resolution_y, render.resolution_percentage = scene.width, scene.height, 100
        render.threads_mode = "FIXED"
        render.threads = self.threads or os.cpu_count() or 1
        render.use_persistent_data = False
        render.film_transparent = scene.background is not None
        cycles = self.bpy.context.scene.cycles
        cycles.device = "GPU" if self.device.is_gpu else "CPU"
        cycles.seed = scene.index
        cycles.use_animated_seed = False
        _sampling(cycles, scene, self.device.is_gpu)
        cycles.max_bounces = 12
        view_layer = self.bpy.context.scene.view_layers[0]
        view_layer.use_pass_object_index = True
        view_layer.use_pass_z = True
        view_layer.use_pass_normal = "normals" in scene.passes
        view_layer.cycles.use_pass_shadow_catcher = scene.background is not None  # Combined then holds no shadow
        shading = self.bpy.context.scene.display.shading
        shading.light, shading.color_type = "STUDIO", "MATERIAL"

    def _render_to(self, engine: str, file_name: str) -> Path:
        scene = self.bpy.context.scene
        scene.render.engine = {"cycles": "CYCLES", "workbench": "BLENDER_WORKBENCH"}[engine]
        self.bpy.ops.render.render(write_still=False)
        return save_result(self.bpy, self.workdir / file_name)

def _sampling(cycles, scene: Scene, gpu: bool) -> None:
    """Samples (the cap), adaptive sampling (off at threshold 0) and OpenImageDenoise with albedo and normal guides."""
    cycles.samples = scene.samples
    cycles.use_adaptive_sampling = scene.noise_threshold > 0
    cycles.adaptive_threshold = scene.noise_threshold
    cycles.adaptive_min_samples = 0  # Cycles' own choice for the threshold
    cycles.use_denoising = scene.denoise
    cycles.denoiser = "OPENIMAGEDENOISE"
    cycles.denoising_input_passes = "RGB_ALBEDO_NORMAL"
    cycles.denoising_prefilter = scene.denoise_prefilter.upper()
    cycles.denoising_use_gpu = gpu


@contextmanager
def blender_output_silenced():
    """Send what Blender prints to stdout (render progress, 'Saved: ...') to /dev/null.

    Blender writes from C, so this swaps file descriptor 1 itself; Python's own prints are
    flushed first and work again afterwards. Progress bars and JSON logs stay readable.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        libc_flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def libc_flush() -> None:
    """Flush C stdio buffers so Blender's buffered output lands in /dev/null, not after the swap."""
    import ctypes

    ctypes.CDLL(None).fflush(None)


def mesh_problem(mesh) -> str | None:
    """Why an imported mesh cannot render as an object (no faces, non-finite or degenerate vertices), or None."""
    coords = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", coords)
    coords = coords.reshape(-1, 3)
    if not len(mesh.polygons) or not len(coords):
        return "expected a mesh with faces (got none: it would render as nothing)"
    if not np.isfinite(coords).all():
        return "expected finite vertex coordinates (got NaN or infinity)"
    extent = coords.max(axis=0) - coords.min(axis=0)
    if (extent > 1e-9 * max(float(np.abs(coords).max()), 1.0)).sum() < 2:
        return "expected a mesh with area (got vertices on one point or line: it would render as nothing)"
    return None


def normalise_mesh(mesh, flat: bool = False) -> None:
    """Scale a mesh so its largest dimension is 1 and move its lowest point to z = 0, centred in x, y."""
    from mathutils import Matrix, Vector

    coords = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", coords)
    coords = coords.reshape(-1, 3)
    low, high = coords.min(axis=0), coords.max(axis=0)
    size = float((high - low).max()) or 1.0
    centre = Vector(((low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2] if not flat else (low[2] + high[2]) / 2))
    mesh.transform(Matrix.Diagonal((1 / size, 1 / size, 1 / size, 1.0)) @ Matrix.Translation(-centre))
