"""Open any input dataset into the label model, safely.

An input is a synthgen dataset folder, a COCO file (`labels.json`, images resolved beside it, or
`labels.json::IMAGE_ROOT`), a YOLO folder (`data.yaml`), a Pascal VOC folder, or a BlenderProc
output folder. Whatever the format, file names that leave the image root are refused, boxes are
clipped to the image (foreign tools write boxes a little outside it), and instances left empty by
the clipping are dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from synthgen.errors import InputError, UnsafePathError
from synthgen.fileio import inside
from synthgen.labels import Dataset
from synthgen.layout import ANNOTATIONS

ROOT_SEPARATOR = "::"


@dataclass
class Opened:
    """A dataset read from `spec`, with its format and how many boxes had to be clipped or dropped."""

    spec: str
    format: str
    dataset: Dataset
    clipped: int = 0
    dropped: int = 0

    def image_path(self, file_name: str) -> Path:
        return Path(self.dataset.root) / file_name


def detect_format(path: Path) -> str:
    """Guess the format of an input path (see the module docstring)."""
    if path.is_file() and path.suffix.lower() == ".json":
        return "blenderproc" if path.name == "coco_annotations.json" else "coco"
    if (path / ANNOTATIONS).is_file():
        return "synthgen"
    if (path / "coco_annotations.json").is_file() or any(path.glob("*.hdf5")):
        return "blenderproc"
    if (path / "data.yaml").is_file():
        return "yolo"
    if (path / "Annotations").is_dir() or any(path.glob("*.xml")):
        return "voc"
    raise InputError(f"{path}: not a dataset: no annotations.json, COCO .json, data.yaml, VOC Annotations/, coco_annotations.json or .hdf5 frames")


def _read_synthgen(path: Path, root: str) -> Dataset:
    from synthgen.formats.coco import read_coco

    return read_coco(path / ANNOTATIONS, root=path)


def _read_coco(path: Path, root: str) -> Dataset:
    from synthgen.formats.coco import read_coco

    return read_coco(path, root=root or None)


def _read_yolo(path: Path, root: str) -> Dataset:
    from synthgen.formats.yolo import read_yolo

    return read_yolo(path)


def _read_voc(path: Path, root: str) -> Dataset:
    from synthgen.formats.voc import read_voc

    return read_voc(path)


def _read_blenderproc(path: Path, root: str) -> Dataset:
    from synthgen.formats.blenderproc import read_blenderproc

    return read_blenderproc(path)


READERS = {"synthgen": _read_synthgen, "coco": _read_coco, "yolo": _read_yolo, "voc": _read_voc, "blenderproc": _read_blenderproc}
READ_FORMATS = tuple(READERS)


def open_dataset(spec: str, format: str = "auto") -> Opened:
    """Read the input `spec` (a path, or `COCO.json::IMAGE_ROOT`) in `format` (or detect it)."""
    path_text, _, root = spec.partition(ROOT_SEPARATOR)
    path = Path(path_text)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if format == "auto":
        format = detect_format(path)
    if format not in READERS:
        raise InputError(f"{spec}: unknown format {format!r}; known: {', '.join(READ_FORMATS)}")
    dataset = READERS[format](path, root)
    _refuse_escaping_names(dataset, spec, _confinement(path, format, dataset))
    opened = Opened(spec=spec, format=format, dataset=dataset)
    opened.clipped, opened.dropped = _clip_boxes(dataset)
    return opened


def _confinement(path: Path, format: str, dataset: Dataset) -> Path:
    """The folder an input's images must stay in (symlinks resolved): the image root, or for a YOLO or
    VOC export inside a synthgen dataset folder (whose images link to `../images`), that dataset folder."""
    root = Path(dataset.root)
    if format in ("yolo", "voc") and (root.parent / ANNOTATIONS).is_file():
        return root.parent
    return root


def _refuse_escaping_names(dataset: Dataset, spec: str, limit: Path) -> None:
    """Every image file name, links followed, must stay inside `limit`."""
    for position, sample in enumerate(dataset.samples):
        name = sample.file_name
        where = f"{spec}: images[{position}].file_name"
        if os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == os.pardir:
            raise UnsafePathError(f"{where}: {name!r} leaves the image root {dataset.root}")
        try:
            inside(limit, os.path.relpath(os.path.join(dataset.root, name), limit), where)
        except UnsafePathError:
            raise UnsafePathError(f"{where}: {name!r} links to a file outside {limit}") from None


def _clip_boxes(dataset: Dataset) -> tuple[int, int]:
    """Clip box-only instances to their image; drop those with nothing left. Returns (clipped, dropped)."""
    clipped = dropped = 0
    for sample in dataset.samples:
        kept = []
        for instance in sample.instances:
            x, y, w, h = instance.box
            if instance.mask is None and (x < 0 or y < 0 or x + w > sample.width or y + h > sample.height):
                x0, y0 = min(max(x, 0.0), sample.width), min(max(y, 0.0), sample.height)
                x1, y1 = min(max(x + w, 0.0), sample.width), min(max(y + h, 0.0), sample.height)
                clipped += 1
                instance.box = (x0, y0, x1 - x0, y1 - y0)
                instance.area = min(instance.area, (x1 - x0) * (y1 - y0))
            if instance.box[2] > 0 and instance.box[3] > 0:
                kept.append(instance)
            else:
                dropped += 1
        sample.instances = kept
    return clipped, dropped
