"""Conditioning images from a render of the Scene: segmentation colours, depth, canny edges.

All functions take numpy arrays and return HxWx3 uint8 RGB arrays, the form ControlNets read.
"""

from __future__ import annotations

import colorsys

import numpy as np

from synthgen.recipe import ade20k
from synthgen.render.scene import Render, Scene

GROUND_GREY = (64, 64, 64)
CANNY_THRESHOLDS = (100, 200)


def class_colors(class_names: list[str]) -> dict[str, tuple[int, int, int]]:
    """Distinct, stable colours per class (golden-ratio hues), for per-class segmentation maps."""
    colors = {}
    for i, name in enumerate(class_names):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.85, 1.0)
        colors[name] = (int(r * 255), int(g * 255), int(b * 255))
    return colors


def segmentation_map(
    render: Render,
    scene: Scene,
    colors: dict[str, tuple[int, int, int]],
    ground: tuple[int, int, int] = GROUND_GREY,
    background: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """Each object's pixels in its class colour; the ground (finite depth) and the world apart."""
    image = np.empty((*render.instance_map.shape, 3), dtype=np.uint8)
    image[:] = background
    image[np.isfinite(render.depth) & (render.instance_map == 0)] = ground
    for obj in scene.objects:
        image[render.instance_map == obj.instance_id] = colors[obj.category]
    return image


def ade20k_map(render: Render, scene: Scene, ade_classes: dict[str, str]) -> np.ndarray:
    """A segmentation map in the ADE20K palette; `ade_classes` maps recipe classes to ADE20K names."""
    colors = {name: ade20k.color_of(ade_classes.get(name, name)) for name in {o.category for o in scene.objects}}
    return segmentation_map(
        render, scene, colors, ground=ade20k.color_of(ade20k.GROUND), background=ade20k.color_of(ade20k.BACKGROUND)
    )


def depth_map(depth: np.ndarray) -> np.ndarray:
    """Inverse depth scaled to 0..255 (near = bright, nothing = black), as depth ControlNets read it."""
    finite = np.isfinite(depth) & (depth > 0)
    image = np.zeros(depth.shape, dtype=np.float64)
    if finite.any():
        inverse = 1.0 / depth[finite]
        low, high = inverse.min(), inverse.max()
        image[finite] = 0.1 + 0.9 * (inverse - low) / (high - low) if high > low else 1.0
    grey = np.round(image * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def canny_edges(rgb: np.ndarray, thresholds: tuple[int, int] = CANNY_THRESHOLDS) -> np.ndarray:
    """Canny edges of an RGB image (white on black), as canny ControlNets read them."""
    import cv2

    edges = cv2.Canny(np.ascontiguousarray(rgb), *thresholds)
    return np.repeat(edges[..., None], 3, axis=2)


def conditioning_image(kind: str, render: Render, scene: Scene, class_names: list[str], ade_classes: dict[str, str]) -> np.ndarray:
    """The control image of `kind` (segmentation | ade20k | depth | canny) for one render."""
    if kind == "segmentation":
        return segmentation_map(render, scene, class_colors(class_names))
    if kind == "ade20k":
        return ade20k_map(render, scene, ade_classes)
    if kind == "depth":
        return depth_map(render.depth)
    if kind == "canny":
        return canny_edges(render.rgb)
    raise ValueError(f"unknown conditioning {kind!r}")
