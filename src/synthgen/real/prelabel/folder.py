"""Run a detector over a folder of photos and write a synthgen dataset folder.

Photos are listed (names only), then decoded and predicted in batches, so memory holds one batch of
pixels however large the folder. Each photo is hard-linked (or copied) to `images/<its relative
path>`; labels go to `annotations.json` with provenance `prelabel`. Unreadable photos are collected;
unless `skip_bad`, finding one stops inference, the rest are only checked (to list them all), and
no dataset is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synthgen.errors import InputError
from synthgen.fileio import (
    IMAGE_SUFFIXES,
    inside,
    list_files,
    open_image,
    refuse_existing,
)
from synthgen.formats.folder import write_dataset_folder
from synthgen.labels import Dataset, Provenance, Sample, categories_from_names
from synthgen.layout import IMAGES
from synthgen.progress import progress_bar
from synthgen.real.prelabel.base import Detector, Photo, PrelabelError

MODEL_ID_KEYS = ("detector", "weights_sha256", "model", "sam_model", "sam_sha256")


class BadPhotosError(PrelabelError):
    """Photos that could not be decoded; `bad` lists (name, reason)."""

    def __init__(self, folder: Path, bad: list[tuple[str, str]]):
        self.bad = bad
        super().__init__(f"{folder}: {len(bad)} unreadable photo(s); fix or remove them, or pass --skip-bad")


@dataclass
class PrelabelSummary:
    images: int = 0
    instances: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def list_photos(folder: Path) -> list[str]:
    """Relative posix paths of the photos under `folder`, sorted (hidden files and folders ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PrelabelError(f"{folder}: not a folder of photos")
    return sorted(path.relative_to(folder).as_posix() for path in list_files(folder, IMAGE_SUFFIXES, hidden=False))


def read_photo(folder: Path, name: str) -> Photo:
    """Decode one photo fully (so a truncated file fails here, not later); a photo that links outside
    `folder` or has more than `fileio.MAX_PIXELS` pixels is refused."""
    with open_image(inside(folder, name, f"{folder}: {name}")) as image:
        return Photo(name=name, image=image.convert("RGB"))


def photo_batches(
    folder: Path, names: list[str], batch_size: int, bad: list[tuple[str, str]]
) -> Iterator[list[Photo]]:
    """Decoded photos in batches; undecodable ones are appended to `bad` and left out."""
    batch: list[Photo] = []
    for name in names:
        try:
            batch.append(read_photo(folder, name))
        except InputError as error:
            bad.append((name, str(error).removeprefix(f"{folder / name}: ").removeprefix(f"{folder}: {name}: ")))
        except OSError as error:  # a truncated file fails while decoding
            bad.append((name, str(error) or type(error).__name__))
            yield []  # lets the caller count the photo as done
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise PrelabelError(f"--batch-size: expected a whole number >= 1 (got {batch_size})")


def prelabel_folder(
    folder: Path, out: Path, detector: Detector, batch_size: int = 8, skip_bad: bool = False, show_progress: bool = True
) -> PrelabelSummary:
    """Pre-label every photo in `folder` into the dataset folder `out` (written whole or not at all)."""
    check_batch_size(batch_size)
    refuse_existing(Path(out))  # before hours of inference, not after
    folder, names = Path(folder), list_photos(folder)
    provenance = detector.describe()
    summary, samples = PrelabelSummary(), []
    with progress_bar(show_progress) as progress:
        task = progress.add_task("pre-labelling", total=len(names))
        for photos in photo_batches(folder, names, batch_size, summary.skipped):
            if photos and (skip_bad or not summary.skipped):
                for photo, instances in zip(photos, detector.predict(photos)):
                    samples.append(_sample(photo, instances, provenance))
            progress.advance(task, max(len(photos), 1))
    if summary.skipped and not skip_bad:
        raise BadPhotosError(folder, summary.skipped)
    dataset = Dataset(categories=categories_from_names(detector.classes), samples=samples)
    manifest = {"command": "prelabel", "photos": str(folder), "detector": provenance, "skipped": summary.skipped}
    write_dataset_folder(dataset, out, [folder / sample.provenance.origin for sample in dataset.samples], manifest)
    summary.images, summary.instances = len(samples), sum(len(s.instances) for s in samples)
    return summary


def _sample(photo: Photo, instances: list, provenance: dict) -> Sample:
    return Sample(
        file_name=f"{IMAGES}/{photo.name}",
        width=photo.image.width,
        height=photo.image.height,
        instances=instances,
        provenance=Provenance(
            source="prelabel",
            model_ids={k: str(v) for k, v in provenance.items() if k in MODEL_ID_KEYS},
            origin=photo.name,
            extra={k: provenance[k] for k in ("threshold", "refine") if k in provenance} | {"reviewed": False},
        ),
    )
