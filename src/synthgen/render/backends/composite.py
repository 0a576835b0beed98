"""Real-photo backgrounds: a render with a transparent film laid over a photo (pure numpy + Pillow).

The photo is scaled to cover the image and cropped where the Scene's `background_offset` says (the
offset was drawn in sampling), scaled by the Shadow Catcher pass, then the render's straight alpha
blends it in. Only colour changes:
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


def composite(rgba: np.ndarray, background: np.ndarray, shadow: np.ndarray | None = None) -> np.ndarray:
    """Blend an HxWx4 uint8 render with straight alpha over an HxWx3 uint8 background.

    `shadow` (HxWx3 float, linear light) is Cycles' Shadow Catcher pass: the factor by which the
    scene's shadows (below 1) and bounced light (above 1) scale the photo. It is denoised with the
    render, so shadows come out clean; the photo is scaled in linear light.
    """
    if shadow is not None:
        background = shade(background, shadow)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    blended = rgba[..., :3].astype(np.float32) * alpha + background.astype(np.float32) * (1.0 - alpha)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def shade(photo: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """An sRGB uint8 photo with its linear light multiplied by `factor` (a factor of 1 leaves it as it was)."""
    linear = _to_linear(photo.astype(np.float64) / 255.0) * np.clip(factor, 0.0, None)
    return np.clip(np.rint(_to_srgb(np.clip(linear, 0.0, 1.0)) * 255.0), 0, 255).astype(np.uint8)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
