"""Masks <-> polygons for the tools that draw polygons (Label Studio, CVAT, YOLO-seg).

`outline_polygon` traces a mask's outline along pixel *edges* (the contour of the mask upsampled
twice, so each traced point lies a quarter pixel inside the edge), so that rasterising the polygon
back (`polygon_mask`, pycocotools' rule) gives the same pixels for simple shapes, and an IoU above
0.99 on real instance masks. Separate parts become one polygon, joined by zero-width bridges (as
Ultralytics joins multi-part COCO masks), so one instance stays one region in every tool.
"""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

UPSAMPLE = 2


def join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """Parts (Nx2 arrays, largest first) as one polygon: each further part is reached by a zero-width
    bridge from the first part's first point and left the same way."""
    if not parts:
        return np.zeros((0, 2))
    joined = [parts[0], parts[0][:1]]
    for part in parts[1:]:
        joined += [part, part[:1], parts[0][:1]]
    return np.concatenate(joined)


def contour_parts(mask: np.ndarray, scale: int = 1) -> list[np.ndarray]:
    """The outer contours of `mask` (upsampled `scale` times) as Nx2 arrays, largest first."""
    image = mask.astype(np.uint8)
    if scale > 1:
        image = np.kron(image, np.ones((scale, scale), dtype=np.uint8))
    contours, _ = cv2.findContours(image, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in sorted(contours, key=cv2.contourArea, reverse=True)]


def outline_polygon(mask: np.ndarray) -> np.ndarray:
    """One polygon (Nx2, pixel coordinates, multiples of 0.25) around every part of `mask`."""
    parts = [(part + 0.5) / UPSAMPLE for part in contour_parts(mask, UPSAMPLE)]
    return join_parts(parts)


def polygon_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise one polygon (Nx2 pixel coordinates) into a boolean HxW mask."""
    if len(points) < 3:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.frPyObjects([np.asarray(points, dtype=np.float64).ravel().tolist()], height, width)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool)
