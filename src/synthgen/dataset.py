"""The dataset folder layout every command reads and writes, and safe (atomic) file writing.

```
DATASET/
  images/000000.png        the images
  annotations.json         COCO instances (ids from 1), provenance on every image
  semantic/000000.png      class ids per pixel (0 = background)
  yolo/ yolo-seg/          when asked: data.yaml, images/, labels/
  manifest.json            the resolved recipe, counts, timings, versions
  .synthgen/               run state: the recipe lock and one finished record per image (resume)
```
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthgen.labels import Dataset, Sample

IMAGES = "images"
ANNOTATIONS = "annotations.json"
SEMANTIC = "semantic"
MANIFEST = "manifest.json"
STATE = ".synthgen"
WRITERS = ("coco", "yolo", "yolo-seg")


def image_name(index: int) -> str:
    """File stem for image `index` (zero-padded so names sort in index order)."""
    return f"{index:06d}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=False) + "\n")


def atomic_write_png(path: Path, array: np.ndarray) -> None:
    """Save an HxW or HxWx3/4 uint8/uint16 array as PNG (no metadata, so bytes are reproducible)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    atomic_write_bytes(path, buffer.getvalue())


def semantic_map(sample: Sample, class_ids: dict[str, int]) -> np.ndarray:
    """Per-pixel class ids (0 = background) painted from the sample's instance masks."""
    dtype = np.uint8 if max(class_ids.values(), default=0) < 256 else np.uint16
    semantic = np.zeros((sample.height, sample.width), dtype=dtype)
    for instance in sample.instances:
        if instance.mask is not None and not instance.iscrowd:
            semantic[instance.decode_mask()] = class_ids[instance.category]
    return semantic


def load_dataset(path: str | Path) -> Dataset:
    """Read a synthgen dataset folder (its `annotations.json`)."""
    from synthgen.formats.coco import read_coco

    return read_coco(Path(path) / ANNOTATIONS, root=Path(path))


def write_semantic(sample: Sample, dataset_root: Path, class_ids: dict[str, int]) -> None:
    """Write `semantic/<stem>.png` for one sample."""
    stem = Path(sample.file_name).stem
    atomic_write_png(dataset_root / SEMANTIC / f"{stem}.png", semantic_map(sample, class_ids))


def write_labels(
    dataset: Dataset, out: Path, formats: list[str] | tuple[str, ...] = ("coco",), semantic: bool = True
) -> None:
    """Write annotations.json, the asked exports and (unless already written) semantic maps."""
    from synthgen.formats import coco, yolo

    if semantic:
        class_ids = {c.name: c.id for c in dataset.categories}
        for sample in dataset.samples:
            write_semantic(sample, out, class_ids)
    coco.write_coco(dataset, out / ANNOTATIONS)
    if "yolo" in formats:
        yolo.write_yolo(dataset, out, out / "yolo", task="detect")
    if "yolo-seg" in formats:
        yolo.write_yolo(dataset, out, out / "yolo-seg", task="segment")


LINK_MODES = ("copy", "hardlink", "symlink")


def place_image(source: Path, target: Path, mode: str = "copy") -> None:
    """Put `source` at `target` as a copy, a hard link (a copy across file systems) or a relative symlink."""
    import shutil

    if mode not in LINK_MODES:
        raise ValueError(f"link mode must be one of {', '.join(LINK_MODES)}, got {mode!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "symlink":
        real_source = _real_folder(source.parent) / source.name
        os.symlink(os.path.relpath(real_source, _real_folder(target.parent)), target)
        return
    if mode == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


@functools.lru_cache(maxsize=1024)
def _real_folder(folder: Path) -> Path:
    """`folder` with symlinks resolved (cached: images share a few folders)."""
    return folder.resolve()
