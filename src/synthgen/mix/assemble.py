"""Write samples gathered from several inputs as one synthgen dataset folder, all or nothing.

Images are renamed `images/000000.<ext>` in the order given (inputs may share file names), each
sample's provenance records where it came from, and the folder appears under its final name only
once everything is written.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from synthgen.fileio import staged_folder
from synthgen.formats.blenderproc import is_hdf5_output, read_blenderproc_hdf5
from synthgen.formats.folder import write_dataset
from synthgen.formats.sources import open_dataset
from synthgen.labels import Dataset, Provenance, Sample, categories_from_names
from synthgen.layout import IMAGES, image_name

Kind = Literal["real", "reviewed", "synthetic"]


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


def write_split(
    items: list[Item], class_names: list[str], out: Path, formats: tuple[str, ...] = ("coco",),
    link: str = "copy", progress: bool = False, splits: tuple[str, ...] = (),
) -> Dataset:
    """Place the images, then write annotations, semantic maps, the asked exports and a manifest
    (`splits`: the mix's non-empty split names, see `formats.folder.write_labels`)."""
    samples = [
        replace(item.sample, file_name=f"{IMAGES}/{image_name(position)}{item.image_path.suffix.lower()}", id=None, provenance=_traced(item))
        for position, item in enumerate(items)
    ]
    dataset = Dataset(categories=categories_from_names(class_names), samples=samples, root=str(out))
    write_dataset(dataset, out, [item.image_path for item in items], split_summary(items, class_names), formats, link, progress, splits)
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


def convert(spec: str, format: str, out: Path, formats: tuple[str, ...] = ("coco",), link: str = "copy") -> Dataset:
    """Read `spec` in `format` and write it as a synthgen dataset folder at `out` (all or nothing).

    BlenderProc HDF5 frames hold their images, so those are decoded into the staged folder first.
    """
    path = Path(spec)
    with staged_folder(out) as staging:
        if format in ("auto", "blenderproc") and is_hdf5_output(path):
            frames = read_blenderproc_hdf5(path, staging / ".frames")
            items = [Item(s, staging / ".frames" / s.file_name, spec, "synthetic") for s in frames.samples]
            dataset = write_split(items, frames.class_names, staging, formats, link="copy")
            shutil.rmtree(staging / ".frames")
            return dataset
        opened = open_dataset(spec, format)
        items = [Item(s, opened.image_path(s.file_name), spec, kind_of(s.provenance)) for s in opened.dataset.samples]
        return write_split(items, opened.dataset.class_names, staging, formats, link)
