"""From a Blender render to label data: saving the render result, the data renders, lone-object
(amodal) renders, truncation from geometry, and reading the passes back from EXR and PNG files.

Shared by the Blender and BlenderProc backends: both give labelled objects their instance id as
pass index, so the object-index pass is the instance map. Every function takes the `bpy` module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.render.backends.blender_camera import sharp
from synthgen.render.scene import Scene


def save_result(bpy, path: Path) -> Path:
    """Save the current render result as PNG (RGB, or RGBA with a transparent film) or multilayer EXR (`.exr`).

    The scene's output settings are put back afterwards (BlenderProc reads them for its own files).
    """
    scene = bpy.context.scene
    settings = scene.render.image_settings
    kept = settings.file_format, settings.color_mode, settings.color_depth, settings.exr_codec
    if path.suffix == ".exr":
        settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR_MULTILAYER", "32", "ZIP"
    else:
        mode = "RGBA" if scene.render.film_transparent else "RGB"
        settings.file_format, settings.color_mode, settings.color_depth = "PNG", mode, "8"
    try:
        bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    finally:
        settings.file_format, settings.color_mode, settings.color_depth, settings.exr_codec = kept
    return path


def data_render(bpy, path: Path) -> Path:
    """A one-sample, zero-bounce, undenoised, sharp Cycles render without the world (no lighting
    needed) and without compositing, saved to `path` for its data passes (index, depth, normals)."""
    scene = bpy.context.scene
    cycles, render, layer = scene.cycles, scene.render, scene.view_layers[0]
    world, scene.world = scene.world, None
    kept = (cycles.max_bounces, cycles.samples, cycles.use_adaptive_sampling, cycles.use_denoising, render.engine, render.use_compositing)
    cycles.max_bounces, cycles.samples, cycles.use_adaptive_sampling, cycles.use_denoising = 0, 1, False, False
    render.engine, render.use_compositing = "CYCLES", False
    layer.use_pass_object_index = layer.use_pass_z = True
    try:
        with sharp(bpy):
            bpy.ops.render.render(write_still=False)
        return save_result(bpy, path)
    finally:
        scene.world = world
        cycles.max_bounces, cycles.samples, cycles.use_adaptive_sampling, cycles.use_denoising, render.engine, render.use_compositing = kept


def lone_masks(bpy, labelled: list, everything: list, workdir: Path) -> dict[int, np.ndarray]:
    """Each labelled object's mask with everything else hidden (one data render per object), by pass index."""
    masks = {}
    try:
        for alone in labelled:
            for blender_object in everything:
                blender_object.hide_render = blender_object is not alone
            instance_map = read_passes(data_render(bpy, workdir / "alone.exr"))[0]
            masks[alone.pass_index] = instance_map == alone.pass_index
    finally:
        for blender_object in everything:
            blender_object.hide_render = False
    return masks


def truncated_ids(bpy, scene: Scene, labelled: list) -> frozenset[int]:
    """Pass indices of labelled objects with a vertex outside the frame (or behind the camera)."""
    camera = bpy.context.scene.camera
    depsgraph = bpy.context.evaluated_depsgraph_get()
    view = np.array(camera.calc_matrix_camera(depsgraph, x=scene.width, y=scene.height)) @ np.array(camera.matrix_world.inverted())
    truncated = set()
    for blender_object in labelled:
        mesh = blender_object.data
        coords = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", coords)
        points = np.c_[coords.reshape(-1, 3), np.ones(len(mesh.vertices))]
        clip = points @ (view @ np.array(blender_object.matrix_world)).T
        w = clip[:, 3]
        if (w <= 0).any() or (np.abs(clip[:, :2]) > w[:, None]).any():
            truncated.add(blender_object.pass_index)
    return frozenset(truncated)


def read_png(path: Path) -> np.ndarray:
    """HxWx3 (or HxWx4 when saved with alpha) uint8."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA") else "RGB")).copy()


def read_shadow(path: Path) -> np.ndarray:
    """The Shadow Catcher pass (HxWx3 float32, linear factor for the photo) of a multilayer EXR."""
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        return np.asarray(exr.parts[0].channels["ViewLayer.Shadow Catcher"].pixels, dtype=np.float32)


def read_passes(path: Path, normals: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Instance ids (object-index pass), depth and (when asked) normals from a multilayer EXR."""
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        channels = exr.parts[0].channels
        index = channels["ViewLayer.IndexOB.X"].pixels
        depth = channels["ViewLayer.Depth.Z"].pixels.astype(np.float32)
        normal = np.dstack([channels[f"ViewLayer.Normal.{axis}"].pixels for axis in "XYZ"]) if normals else None
    depth = np.where(depth >= 1e9, np.inf, depth).astype(np.float32)
    if normal is not None:  # averaged over samples: rescale to unit length, and keep to the first sample's hits
        length = np.linalg.norm(normal, axis=-1, keepdims=True)
        normal = np.where(np.isfinite(depth)[..., None] & (length > 0), normal / np.maximum(length, 1e-12), 0.0)
        normal = normal.astype(np.float32)
    return np.rint(index).astype(np.int32), depth, normal
