"""The splits of an input for the exporters: a mix output's `train/ val/ test/` dataset folders, or
any one input `formats.sources.open_dataset` reads (then the `train` split)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from synthgen.errors import InputError
from synthgen.formats.sources import Opened, open_dataset
from synthgen.layout import ANNOTATIONS, IMAGES

SPLITS = ("train", "val", "test")


def open_splits(spec: str) -> dict[str, Opened]:
    """The splits of `spec`: a mix output's `train/ val/ test/` folders, else the input as `train`."""
    path = Path(spec)
    if path.is_dir() and not (path / ANNOTATIONS).exists():
        found = {name: path / name for name in SPLITS if (path / name / ANNOTATIONS).is_file()}
        if found:
            return {name: open_dataset(str(folder)) for name, folder in found.items()}
    return {"train": open_dataset(spec)}


def image_names(opened: Opened) -> list[str]:
    """Each sample's image name inside a split's image folder: its `file_name` without a leading
    `images/` (tools that keep images per split add their own folder)."""
    names = []
    for sample in opened.dataset.samples:
        parts = PurePosixPath(sample.file_name.replace("\\", "/")).parts
        names.append(str(PurePosixPath(*parts[1:])) if len(parts) > 1 and parts[0] == IMAGES else str(PurePosixPath(*parts)))
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise InputError(f"{opened.spec}: two images would both be exported as {duplicate!r}")
    return names
