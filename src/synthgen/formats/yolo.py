"""YOLO (Ultralytics layout) <-> the label model.

A YOLO folder holds `data.yaml`, `images/` (relative symlinks to the dataset's images, or copies)
and `labels/<stem>.txt`: one line per instance, class index from 0, coordinates normalised to
[0, 1]: `cls cx cy w h` for the detect task, `cls x1 y1 x2 y2 ...` (a polygon) for the segment task.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml
from PIL import Image

from synthgen.errors import FormatError
from synthgen.fileio import IMAGE_SUFFIXES
from synthgen.formats.polygons import contour_parts, join_parts
from synthgen.labels import Dataset, Instance, Sample, categories_from_names

Task = Literal["detect", "segment"]


class YoloFormatError(FormatError):
    """A YOLO folder that cannot be read into the label model."""


def write_yolo(dataset: Dataset, dataset_root: Path, out: Path, task: Task = "detect", link: bool = True) -> None:
    """Export `dataset` (images under `dataset_root`) as a YOLO folder at `out`."""
    from synthgen.fileio import atomic_write_text

    index_of = {c.name: i for i, c in enumerate(dataset.categories)}
    for sample in dataset.samples:
        source = dataset_root / sample.file_name
        target = out / "images" / Path(sample.file_name).name
        _place_image(source, target, link)
        lines = [_line(instance, index_of[instance.category], sample, task) for instance in sample.instances]
        text = "".join(f"{line}\n" for line in lines if line)
        atomic_write_text(out / "labels" / f"{Path(sample.file_name).stem}.txt", text)
    data = {"path": ".", "train": "images", "val": "images", "names": {i: c.name for i, c in enumerate(dataset.categories)}}
    atomic_write_text(out / "data.yaml", yaml.safe_dump(data, sort_keys=False))


def _place_image(source: Path, target: Path, link: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    if link:
        os.symlink(os.path.relpath(source, target.parent), target)
    else:
        shutil.copyfile(source, target)


def _line(instance: Instance, class_index: int, sample: Sample, task: Task) -> str:
    if task == "segment":
        if instance.mask is None:
            return ""
        points = mask_to_polygon(instance.decode_mask())
        if len(points) < 3:
            return ""
        coords = (points / np.array([sample.width, sample.height])).clip(0, 1).ravel()
        return f"{class_index} " + " ".join(f"{v:.6f}" for v in coords)
    x, y, w, h = instance.box
    cx, cy = (x + w / 2) / sample.width, (y + h / 2) / sample.height
    return f"{class_index} {cx:.6f} {cy:.6f} {w / sample.width:.6f} {h / sample.height:.6f}"


def mask_to_polygon(mask: np.ndarray) -> np.ndarray:
    """One polygon (Nx2 pixel coordinates, through the border pixels' centres) covering every part of
    the mask, parts joined by zero-width bridges (`polygons.join_parts`)."""
    return join_parts(contour_parts(mask))


def read_yolo(folder: str | Path) -> Dataset:
    """Read a YOLO folder (data.yaml + images/ + labels/) into the label model."""
    folder = Path(folder)
    data_file = folder / "data.yaml"
    try:
        data = yaml.safe_load(data_file.read_text())
        names = data["names"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise YoloFormatError(f"{data_file}: cannot read class names: {error}") from None
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    samples = []
    for image_path in sorted(p for p in (folder / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(image_path) as image:
            width, height = image.size
        relative = image_path.relative_to(folder)
        label_path = folder / "labels" / image_path.relative_to(folder / "images").with_suffix(".txt")
        sample = Sample(file_name=str(relative), width=width, height=height)
        if label_path.exists():
            for number, line in enumerate(label_path.read_text().splitlines(), start=1):
                if line.strip():
                    sample.instances.append(_parse_line(line, names, width, height, f"{label_path}:{number}"))
        samples.append(sample)
    return Dataset(categories=categories_from_names(names), samples=samples, root=str(folder))


def _parse_line(line: str, names: list[str], width: int, height: int, where: str) -> Instance:
    try:
        values = [float(v) for v in line.split()]
    except ValueError:
        raise YoloFormatError(f"{where}: not numbers: {line!r}") from None
    if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0):
        raise YoloFormatError(f"{where}: expected 'cls cx cy w h' or 'cls x1 y1 x2 y2 ...', got {len(values)} values")
    class_index = int(values[0])
    if not 0 <= class_index < len(names):
        raise YoloFormatError(f"{where}: class {class_index} not in data.yaml names (0..{len(names) - 1})")
    if len(values) == 5:
        cx, cy, w, h = values[1:]
        box = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
        return Instance(category=names[class_index], box=box, area=box[2] * box[3])
    points = (np.array(values[1:]).reshape(-1, 2) * np.array([width, height])).round().astype(np.int32)
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return Instance.from_mask(names[class_index], mask.astype(bool))
