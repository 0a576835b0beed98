"""Write samples gathered from several inputs as one synthgen dataset folder, all or nothing.

Images are renamed `images/000000.<ext>` in the order given (inputs may share file names), each
sample's provenance records where it came from, and the folder appears under its final name only
once everything is written.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Literal

from rich.console import Console
from rich.progress import track

from synthgen.dataset import IMAGES, MANIFEST, atomic_write_json, image_name, place_image, write_labels
from synthgen.labels import Dataset, Provenance, Sample, categories_from_names

Kind = Literal["real", "reviewed", "synthetic"]
EXPORTS = ("coco", "yolo", "yolo-seg", "voc")


class OutputExistsError(FileExistsError):
    """The output folder is already there; nothing was written."""


@dataclass
class Item:
    """One input image: its sample (class names already final), the image file, and its origin."""

    sample: Sample
    image_path: Path
    input_spec: str
    kind: Kind
    classes: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.classes = Counter(instance.category for instance in self.sample.instances)


def kind_of(provenance: Provenance) -> Kind:
    """Renders and diffusion images are synthetic; human-corrected ones reviewed; the rest real."""
    if provenance.source in ("render", "diffusion"):
        return "synthetic"
    return "reviewed" if provenance.source == "human" else "real"


def progress_bar(items: list, description: str, enabled: bool) -> Iterator:
    """Iterate `items`, with a rich progress bar on stderr when `enabled`."""
    return track(items, description=description, disable=not enabled, console=Console(stderr=True))


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; rename it to `out` on success, delete it on failure."""
    if out.exists() or out.is_symlink():
        raise OutputExistsError(f"{out}: output folder already exists; choose another -o or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        yield staging
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_split(
    items: list[Item], class_names: list[str], out: Path, formats: tuple[str, ...] = ("coco",),
    link: str = "copy", progress: bool = False,
) -> Dataset:
    """Place the images, then write annotations, semantic maps, the asked exports and a manifest."""
    samples = []
    for position, item in enumerate(progress_bar(items, f"writing {out.name}", progress)):
        name = f"{image_name(position)}{item.image_path.suffix.lower()}"
        place_image(item.image_path, out / IMAGES / name, link)
        samples.append(replace(item.sample, file_name=f"{IMAGES}/{name}", id=None, provenance=_traced(item)))
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    dataset = Dataset(categories=categories_from_names(class_names), samples=samples, root=str(out))
    has_masks = any(i.mask is not None for s in samples for i in s.instances)
    write_labels(dataset, out, formats, semantic=has_masks)  # box-only labels have nothing to paint
    if "voc" in formats:
        from synthgen.formats.voc import write_voc

        write_voc(dataset, out, out / "voc", link="symlink")
    atomic_write_json(out / MANIFEST, split_summary(items, class_names))
    return dataset


def _traced(item: Item) -> Provenance:
    extra = {**item.sample.provenance.extra, "kind": item.kind, "input": item.input_spec, "input_file": item.sample.file_name}
    if item.sample.id is not None:
        extra["input_id"] = item.sample.id
    return replace(item.sample.provenance, extra=extra)


def split_summary(items: list[Item], class_names: list[str]) -> dict:
    """Images per kind and instances per class and kind."""
    images = Counter(item.kind for item in items)
    instances = {name: Counter() for name in class_names}
    for item in items:
        for name, n in item.classes.items():
            instances[name][item.kind] += n
    return {
        "images": len(items),
        "images_by_kind": {kind: images[kind] for kind in ("real", "reviewed", "synthetic")},
        "instances": {name: {"total": sum(c.values()), **dict(sorted(c.items()))} for name, c in instances.items()},
    }
