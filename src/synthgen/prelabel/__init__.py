"""Pre-labelling real photos: the Detector protocol, class prompts, and the factory behind `--detector`.

Families live in their own modules and import torch / transformers only when built:
`torchvision:<arch>` (torchvision_models), `owlv2` / `owlvit` (open_vocab), and a COCO results
file a team already has (from_results). A detector turns a batch of `Photo`s into `Instance`s with
scores, names classes in its label space, and describes itself for the samples' provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from synthgen.labels import Instance

OPEN_VOCAB_FAMILIES = ("owlv2", "owlvit")


class PrelabelError(ValueError):
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
        try:
            entries += Path(classes_file).read_text().splitlines()
        except OSError as error:
            raise PrelabelError(f"{classes_file}: cannot read classes file: {error.strerror}") from None
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


def progress_bar(show: bool = True):
    """A rich progress bar on stderr, shown only on a terminal (logs and pipes stay clean)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=not (show and console.is_terminal))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """An `[x, y, w, h]` box cut to the image."""
    x0, y0 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
    x1, y1 = min(max(box[0] + box[2], 0.0), width), min(max(box[1] + box[3], 0.0), height)
    return (x0, y0, x1 - x0, y1 - y0)


def make_detector(
    detector: str | None,
    *,
    weights: Path | None = None,
    model: str | None = None,
    classes: dict[str, list[str]] | None = None,
    threshold: float = 0.3,
    device: str | None = None,
    from_results: Path | None = None,
    images_json: Path | None = None,
    photo_names: list[str] | None = None,
) -> Detector:
    """The detector the command line asks for (see the module docstring for the names)."""
    classes = classes or {}
    if from_results is not None:
        if detector or weights or model:
            raise PrelabelError("--from-results: cannot be combined with --detector, --weights or --model")
        from synthgen.prelabel.from_results import ResultsDetector

        return ResultsDetector(from_results, photo_names or [], list(classes), images_json, threshold)
    if detector in OPEN_VOCAB_FAMILIES:
        if not model or not classes:
            raise PrelabelError(f"--detector {detector}: needs --model and --classes")
        from synthgen.prelabel.open_vocab import OpenVocabDetector

        return OpenVocabDetector(detector, model, classes, threshold, pick_device(device))
    if detector is None or detector == "torchvision" or detector.startswith("torchvision:"):
        if weights is None:
            raise PrelabelError("--weights: a torchvision detector needs a weights file or a `synthgen train` folder")
        from synthgen.prelabel.torchvision_models import TorchvisionDetector

        arch = detector.partition(":")[2] if detector else ""
        return TorchvisionDetector(arch or None, Path(weights), list(classes), threshold, pick_device(device))
    raise PrelabelError(
        f"--detector: unknown detector {detector!r}; use torchvision:<arch>, {', '.join(OPEN_VOCAB_FAMILIES)}"
    )
