"""YOLO (Ultralytics layout) <-> the label model.

A YOLO folder holds `data.yaml`, `images/` (relative symlinks to the dataset's images, or copies)
and `labels/<stem>.txt`: one line per instance, class index from 0, coordinates normalised to
[0, 1]: `cls cx cy w h` for the detect task, `cls x1 y1 x2 y2 ...` (a polygon) for the segment task.

`data.yaml` has no `path:` key, so Ultralytics resolves `train`/`val`/`test` against the YAML's own
folder (a `path:` that is relative is taken against the working folder or Ultralytics' datasets
folder): it loads from any working folder, and after the dataset folder is moved. In a mix output
(train/ val/ [test/] folders) `val:` is the val split's images; without a validation split `val:`
is the training images, and the file says so in a comment (`NO_VAL_NOTE`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml

from synthgen.errors import FormatError
from synthgen.fileio import (
    IMAGE_SUFFIXES,
    image_size,
    inside,
    list_files,
    read_text,
    read_yaml,
)
from synthgen.formats import fields
from synthgen.labels import Dataset, Instance, Sample, categories_from_names

Task = Literal["detect", "segment"]


class YoloFormatError(FormatError):
    """A YOLO folder that cannot be read into the label model."""


NO_VAL_NOTE = "no validation split: val is the training images"


def write_yolo(
    dataset: Dataset, dataset_root: Path, out: Path, task: Task = "detect", link: bool = True,
    splits: Mapping[str, str] | None = None,
) -> None:
    """Export `dataset` (images under `dataset_root`) as a YOLO folder at `out`.

    `splits` maps `train`, `val`, `test` to image folders relative to `out` (a mix output's splits);
    without it, or without a `val` entry, this folder's images are `train` and `val`.
    """
    from synthgen.fileio import atomic_write_text

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    index_of = {c.name: i for i, c in enumerate(dataset.categories)}
    for sample in dataset.samples:
        source = dataset_root / sample.file_name
        target = out / "images" / Path(sample.file_name).name
        _place_image(source, target, link)
        lines = [_line(instance, index_of[instance.category], sample, task) for instance in sample.instances]
        text = "".join(f"{line}\n" for line in lines if line)
        atomic_write_text(out / "labels" / f"{Path(sample.file_name).stem}.txt", text)
    atomic_write_text(out / "data.yaml", data_yaml([c.name for c in dataset.categories], splits or {}))


def data_yaml(names: list[str], splits: Mapping[str, str]) -> str:
    """The text of `data.yaml`: no `path:` (see the module docstring), the splits, the class names."""
    train = splits.get("train", "images")
    data = {"train": train, "val": splits.get("val", train)}
    if "test" in splits:
        data["test"] = splits["test"]
    data["names"] = dict(enumerate(names))
    header = "# Paths are relative to this file's folder (no 'path:' key), so it loads from anywhere.\n"
    if "val" not in splits:
        header += f"# {NO_VAL_NOTE}\n"
    return header + yaml.safe_dump(data, sort_keys=False)


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
    """One polygon (Nx2 pixel coordinates) covering every part of the mask.

    Separate parts are joined by zero-width bridges to the first part's first point, as
    Ultralytics does when it converts multi-part COCO masks.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = [c.reshape(-1, 2).astype(np.float64) for c in sorted(contours, key=cv2.contourArea, reverse=True)]
    if not parts:
        return np.zeros((0, 2))
    joined = [parts[0], parts[0][:1]]
    for part in parts[1:]:
        joined += [part, part[:1], parts[0][:1]]
    return np.concatenate(joined)


def read_yolo(folder: str | Path) -> Dataset:
    """Read a YOLO folder (data.yaml + images/ + labels/) into the label model, every line checked."""
    folder = Path(folder)
    names = _class_names(folder / "data.yaml")
    samples = []
    images = folder / "images"
    for image_path in list_files(images, IMAGE_SUFFIXES) if images.is_dir() else []:
        width, height = image_size(image_path)
        relative = image_path.relative_to(folder)
        label_name = os.path.join("labels", image_path.relative_to(images).with_suffix(".txt"))
        sample = Sample(file_name=str(relative), width=width, height=height)
        label_path = folder / label_name
        if label_path.exists() or label_path.is_symlink():
            label_path = inside(folder, label_name, str(label_path))
            for number, line in enumerate(read_text(label_path).splitlines(), start=1):
                if line.strip():
                    sample.instances.append(_parse_line(line, names, width, height, f"{label_path}:{number}"))
        samples.append(sample)
    return Dataset(categories=categories_from_names(names), samples=samples, root=str(folder))


def _class_names(data_file: Path) -> list[str]:
    """The class names of `data.yaml` (`names:` as a list, or a mapping from index 0..N-1)."""
    data = fields.mapping(read_yaml(data_file), str(data_file))
    names = data.get("names")
    where = f"{data_file}: names"
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise fields.bad(where, "a mapping from class indices 0..N-1 to names", list(names)[:5])
        names = [names[i] for i in range(len(names))]
    return [fields.text(name, f"{where}[{i}]") for i, name in enumerate(fields.array(names, where))]


def _parse_line(line: str, names: list[str], width: int, height: int, where: str) -> Instance:
    words = line.split()
    try:
        values = [float(v) for v in words]
    except ValueError:
        raise YoloFormatError(f"{where}: expected numbers only (field {_first_bad(words)} is not one)") from None
    if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0):
        raise YoloFormatError(f"{where}: expected 'cls cx cy w h' or 'cls x1 y1 x2 y2 ...', got {len(values)} values")
    class_index = fields.whole(values[0], f"{where}: class", 0, max(len(names) - 1, 0)) if names else None
    if class_index is None:
        raise YoloFormatError(f"{where}: class {words[0]} but data.yaml has no names")
    margin = fields.POLYGON_MARGIN
    coords = [fields.number(v, f"{where}: field {k}", -margin, 1 + margin) for k, v in enumerate(values[1:], start=2)]
    if len(values) == 5:
        cx, cy, w, h = coords
        if w < 0 or h < 0:
            raise fields.bad(f"{where}: w h", "sizes >= 0", (w, h))
        box = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
        return Instance(category=names[class_index], box=box, area=box[2] * box[3])
    points = (np.array(coords).reshape(-1, 2) * np.array([width, height])).round().astype(np.int32)
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return Instance.from_mask(names[class_index], mask.astype(bool))


def _first_bad(words: list[str]) -> int:
    """1-based position of the first word that is not a number."""
    for position, word in enumerate(words, start=1):
        try:
            float(word)
        except ValueError:
            return position
    return 0
