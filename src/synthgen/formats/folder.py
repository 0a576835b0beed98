"""A synthgen dataset folder (see `synthgen.layout`) read into and written from the label model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.fileio import atomic_write_json, atomic_write_png, place_image, staged_folder
from synthgen.labels import Dataset, Sample
from synthgen.layout import ANNOTATIONS, IMAGES, MANIFEST, SEMANTIC
from synthgen.progress import tracked


def load_dataset(path: str | Path) -> Dataset:
    """Read a synthgen dataset folder (its `annotations.json`)."""
    from synthgen.formats.coco import read_coco

    return read_coco(Path(path) / ANNOTATIONS, root=Path(path))


def semantic_map(sample: Sample, class_ids: dict[str, int]) -> np.ndarray:
    """Per-pixel class ids (0 = background) painted from the sample's instance masks."""
    dtype = np.uint8 if max(class_ids.values(), default=0) < 256 else np.uint16
    semantic = np.zeros((sample.height, sample.width), dtype=dtype)
    for instance in sample.instances:
        if instance.mask is not None and not instance.iscrowd:
            semantic[instance.decode_mask()] = class_ids[instance.category]
    return semantic


def write_semantic(sample: Sample, dataset_root: Path, class_ids: dict[str, int]) -> None:
    """Write `semantic/<stem>.png` for one sample."""
    stem = Path(sample.file_name).stem
    atomic_write_png(dataset_root / SEMANTIC / f"{stem}.png", semantic_map(sample, class_ids))


YOLO_EXPORTS = {"yolo": "detect", "yolo-seg": "segment"}


def write_labels(
    dataset: Dataset, out: Path, formats: tuple[str, ...] | list[str] = ("coco",), semantic: bool = True,
    splits: tuple[str, ...] = (),
) -> None:
    """Write annotations.json, the asked exports (see `formats.EXPORTS`) and, with `semantic`, semantic maps.

    `splits` names the non-empty sibling split folders when `out` is one split of a mix output
    (`train`, `val`, `test`): the YOLO exports then point `val:` at the val split."""
    from synthgen.formats import coco, voc, yolo

    if semantic:
        class_ids = {c.name: c.id for c in dataset.categories}
        for sample in dataset.samples:
            write_semantic(sample, out, class_ids)
    coco.write_coco(dataset, out / ANNOTATIONS)
    for export, task in YOLO_EXPORTS.items():
        if export in formats:
            paths = {split: f"../../{split}/{export}/images" for split in splits}
            yolo.write_yolo(dataset, out, out / export, task=task, splits=paths)
    if "voc" in formats:
        voc.write_voc(dataset, out, out / "voc", link="symlink")


def has_masks(dataset: Dataset) -> bool:
    return any(i.mask is not None for s in dataset.samples for i in s.instances)


def yolo_notes(out: Path, formats: tuple[str, ...] | list[str], splits: tuple[str, ...] = ()) -> list[str]:
    """One line per YOLO export of `out` whose `val:` is not a validation split (for the command line)."""
    from synthgen.formats.yolo import NO_VAL_NOTE

    if "val" in splits:
        return []
    return [f"{out / export / 'data.yaml'}: {NO_VAL_NOTE}" for export in YOLO_EXPORTS if export in formats]


def write_dataset(
    dataset: Dataset, out: Path, image_sources: list[Path], manifest: dict,
    formats: tuple[str, ...] | list[str] = ("coco",), link: str = "copy", progress: bool = False,
    splits: tuple[str, ...] = (),
) -> None:
    """Write `dataset` into the folder `out`: sample i's image placed from `image_sources[i]` at its
    `file_name`, `annotations.json`, the exports (`splits`: see `write_labels`), semantic maps when
    there are masks (box-only labels have nothing to paint), and `manifest.json`."""
    pairs = list(zip(dataset.samples, image_sources, strict=True))
    for sample, source in tracked(pairs, f"writing {out.name}", progress):
        place_image(source, out / sample.file_name, link)
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    write_labels(dataset, out, formats, semantic=has_masks(dataset), splits=splits)
    atomic_write_json(out / MANIFEST, manifest)


def write_dataset_folder(
    dataset: Dataset, out: Path, image_sources: list[Path], manifest: dict, link: str = "hardlink"
) -> None:
    """`write_dataset` into a staged folder: `out` appears complete or not at all."""
    with staged_folder(out) as staging:
        write_dataset(dataset, staging, image_sources, manifest, link=link)
