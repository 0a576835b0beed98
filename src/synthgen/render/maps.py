"""Depth and normal maps written beside each image, pixel-aligned with it and its masks.

```
depth/000000.png     uint16 millimetres along the view axis (0 = nothing hit or beyond 65.535 m)
depth/000000.npy     float32 metres (inf = nothing hit)
normals/000000.png   uint8 RGB = (world-space normal + 1) / 2 * 255 (0, 0, 0 = nothing hit)
```
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from synthgen.fileio import atomic_write_bytes, atomic_write_png
from synthgen.layout import DEPTH, NORMALS

MAX_MILLIMETRES = 65535


def write_depth(root: Path, stem: str, depth: np.ndarray, kind: str) -> None:
    """`kind` is `png16` (millimetres) or `npy` (metres)."""
    if kind == "npy":
        buffer = io.BytesIO()
        np.save(buffer, depth.astype(np.float32), allow_pickle=False)
        atomic_write_bytes(root / DEPTH / f"{stem}.npy", buffer.getvalue())
        return
    millimetres = np.rint(np.where(np.isfinite(depth), depth, 0.0) * 1000.0)
    millimetres[millimetres > MAX_MILLIMETRES] = 0
    atomic_write_png(root / DEPTH / f"{stem}.png", millimetres.astype(np.uint16))


def write_normals(root: Path, stem: str, normals: np.ndarray) -> None:
    hit = np.linalg.norm(normals, axis=-1, keepdims=True) > 0
    encoded = np.where(hit, np.rint((np.clip(normals, -1, 1) + 1.0) * 127.5), 0)
    atomic_write_png(root / NORMALS / f"{stem}.png", encoded.astype(np.uint8))


def read_depth(path: Path) -> np.ndarray:
    """A written depth map back in metres (inf where nothing was hit)."""
    if path.suffix == ".npy":
        return np.load(path)
    from PIL import Image

    with Image.open(path) as image:
        millimetres = np.asarray(image).astype(np.float32)
    return np.where(millimetres > 0, millimetres / 1000.0, np.inf).astype(np.float32)
