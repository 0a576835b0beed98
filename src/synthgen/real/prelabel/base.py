"""What every detector family shares: the Detector protocol, Photo, class prompts, devices, boxes.

A detector turns a batch of `Photo`s into `Instance`s with scores, names classes in its label
space, and describes itself for the samples' provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from synthgen.errors import InputError
from synthgen.fileio import read_text
from synthgen.labels import Instance


class PrelabelError(InputError):
    """Bad detector settings or input: the message names the file or flag."""


@dataclass
class Photo:
    """One decoded RGB photo; `name` is its path relative to the photos folder (posix)."""

    name: str
    image: Image.Image


class Detector(Protocol):
    """Anything that turns photos into scored instances of `classes`."""

    classes: list[str]

    def describe(self) -> dict[str, Any]:
        """Provenance: detector name, weights hash, threshold."""
        ...

    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        """One list of instances per photo, in order."""
        ...


def parse_classes(text: str | None = None, classes_file: Path | None = None) -> dict[str, list[str]]:
    """Class names -> text prompts. `"forklift=fork lift truck|lift truck,pallet jack"`, or one such
    entry per line of a classes file; a class without synonyms is prompted by its own name."""
    entries = (text or "").split(",")
    if classes_file is not None:
        entries += read_text(Path(classes_file)).splitlines()
    prompts: dict[str, list[str]] = {}
    for entry in entries:
        name, _, synonyms = entry.partition("=")
        name = name.strip()
        if not name:
            continue
        if name in prompts:
            raise PrelabelError(f"--classes: {name!r} is given twice")
        prompts[name] = [name] + [s.strip() for s in synonyms.split("|") if s.strip()]
    return prompts


def pick_device(device: str | None) -> str:
    """`device` as given, or CUDA when present, else CPU."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CLASS_SCORE_FLOOR = 0.01  # class scores below this are left out of `class_scores`


def class_scores(names: list[str], scores: list[float], own: str) -> dict[str, float]:
    """A box's score for each class, `attributes["class_scores"]` (what `--strategy entropy` and
    `margin` read): the classes scoring at least `CLASS_SCORE_FLOOR`, and the box's `own`, to 6 digits."""
    return {name: round(float(score), 6) for name, score in zip(names, scores) if score >= CLASS_SCORE_FLOOR or name == own}


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """An `[x, y, w, h]` box cut to the image."""
    x0, y0 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
    x1, y1 = min(max(box[0] + box[2], 0.0), width), min(max(box[1] + box[3], 0.0), height)
    return (x0, y0, x1 - x0, y1 - y0)
