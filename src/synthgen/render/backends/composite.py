"""Real-photo backgrounds: a render with a transparent film laid over a photo (pure numpy + Pillow).

The photo is scaled to cover the image and cropped where the Scene's `background_offset` says (the
offset was drawn in sampling), then the render's straight alpha blends it in. Only colour changes:
the instance map, depth and every label come from the render and stay exactly as they were.
"""

from __future__ import annotations

import math

import numpy as np

from synthgen.fileio import open_image


def cover(path: str, width: int, height: int, offset: tuple[float, float]) -> np.ndarray:
    """The photo at `path` scaled to cover width x height, cropped at `offset` (fractions of the spare room)."""
    from PIL import Image

    with open_image(path) as photo:
        photo = photo.convert("RGB")
        scale = max(width / photo.width, height / photo.height)
        size = (max(width, math.ceil(photo.width * scale)), max(height, math.ceil(photo.height * scale)))
        photo = photo.resize(size, Image.Resampling.LANCZOS)
    left = round(offset[0] * (size[0] - width))
    top = round(offset[1] * (size[1] - height))
    return np.asarray(photo)[top : top + height, left : left + width].copy()


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Blend an HxWx4 uint8 render with straight alpha over an HxWx3 uint8 background."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    blended = rgba[..., :3].astype(np.float32) * alpha + background.astype(np.float32) * (1.0 - alpha)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
