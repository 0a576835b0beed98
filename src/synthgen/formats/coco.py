"""COCO instances JSON <-> the label model.

Writes: ids from 1, categories in `Dataset.categories` order, masks as RLE with str counts, each
image entry carrying its `provenance`. Reads: any COCO instances file, tolerating real-world quirks
(ids from 0, polygons or uncompressed RLE, missing `info`, a `_background_` category, which is
dropped with its annotations), converting polygons to RLE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthgen.errors import FormatError
from synthgen.labels import Category, Dataset, Instance, Provenance, Sample, rle_area, rle_box, segmentation_to_rle

OPTIONAL_INSTANCE_KEYS = ("score", "visibility", "truncated")
BACKGROUND_NAMES = ("_background_", "__background__")


class CocoFormatError(FormatError):
    """A COCO file that cannot be read into the label model."""


def to_coco(dataset: Dataset) -> dict[str, Any]:
    """The label model as a COCO dict (image ids 1..N in sample order unless samples carry ids)."""
    images, annotations = [], []
    annotation_id = 1
    for position, sample in enumerate(dataset.samples, start=1):
        image_id = sample.id if sample.id is not None else position
        images.append(
            {
                "id": image_id,
                "file_name": sample.file_name,
                "width": sample.width,
                "height": sample.height,
                "provenance": sample.provenance.to_dict(),
            }
        )
        for instance in sample.instances:
            annotations.append(_annotation(instance, annotation_id, image_id, dataset.category_id(instance.category)))
            annotation_id += 1
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in dataset.categories]
    return {"info": dataset.info, "images": images, "annotations": annotations, "categories": categories}


def _annotation(instance: Instance, annotation_id: int, image_id: int, category_id: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [float(v) for v in instance.box],
        "area": float(instance.area),
        "iscrowd": int(instance.iscrowd),
    }
    if instance.mask is not None:
        entry["segmentation"] = instance.mask
    for key in OPTIONAL_INSTANCE_KEYS:
        value = getattr(instance, key)
        if value is not None:
            entry[key] = value
    if instance.amodal_mask is not None:
        entry["amodal_segmentation"] = instance.amodal_mask
        entry["amodal_bbox"] = list(instance.amodal_box)
    if instance.attributes:
        entry["attributes"] = instance.attributes
    return entry


def write_coco(dataset: Dataset, path: str | Path) -> None:
    """Write `dataset` as COCO JSON (deterministic bytes for the same dataset)."""
    from synthgen.fileio import atomic_write_text

    atomic_write_text(Path(path), json.dumps(to_coco(dataset), separators=(",", ":")))


def from_coco(data: dict[str, Any], root: str | None = None, source: str = "coco file") -> Dataset:
    """A COCO dict -> Dataset. Ids in the file are kept on samples; categories are renumbered 1..N."""
    try:
        file_categories = sorted(data["categories"], key=lambda c: c["id"])
        background_ids = {c["id"] for c in file_categories if c["name"] in BACKGROUND_NAMES}
        file_categories = [c for c in file_categories if c["id"] not in background_ids]
        names_by_id = {c["id"]: c["name"] for c in file_categories}
        categories = [
            Category(id=i + 1, name=c["name"], supercategory=c.get("supercategory", "") or "")
            for i, c in enumerate(file_categories)
        ]
        samples: dict[Any, Sample] = {}
        for image in data["images"]:
            samples[image["id"]] = Sample(
                file_name=image["file_name"],
                width=int(image["width"]),
                height=int(image["height"]),
                provenance=Provenance.from_dict(image.get("provenance", {"source": "import"})),
                id=image["id"],
            )
        for position, ann in enumerate(data.get("annotations", [])):
            sample = samples.get(ann["image_id"])
            if ann["category_id"] in background_ids:
                continue
            if sample is None:
                raise CocoFormatError(f"annotations[{position}].image_id: no image with id {ann['image_id']}")
            if ann["category_id"] not in names_by_id:
                raise CocoFormatError(f"annotations[{position}].category_id: no category with id {ann['category_id']}")
            sample.instances.append(_instance(ann, names_by_id[ann["category_id"]], sample))
    except KeyError as error:
        raise CocoFormatError(f"{source}: missing key {error}") from None
    except CocoFormatError as error:
        raise CocoFormatError(f"{source}: {error}") from None
    return Dataset(categories=categories, samples=list(samples.values()), root=root, info=data.get("info") or {})


def _instance(ann: dict[str, Any], category: str, sample: Sample) -> Instance:
    mask = segmentation_to_rle(ann.get("segmentation"), sample.height, sample.width)
    if mask is not None:
        box, area = rle_box(mask), rle_area(mask)
    else:
        box = tuple(float(v) for v in ann["bbox"])
        area = float(ann.get("area", box[2] * box[3]))
    return Instance(
        category=category,
        box=box,
        area=area,
        mask=mask,
        score=ann.get("score"),
        iscrowd=bool(ann.get("iscrowd", 0)),
        visibility=ann.get("visibility"),
        truncated=ann.get("truncated"),
        attributes=ann.get("attributes", {}),
        amodal_mask=segmentation_to_rle(ann.get("amodal_segmentation"), sample.height, sample.width),
    )


def read_coco(path: str | Path, root: str | Path | None = None) -> Dataset:
    """Read a COCO file; `root` (default: the file's folder) resolves image file names."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CocoFormatError(f"{path}: cannot read COCO JSON: {error}") from None
    return from_coco(data, root=str(root if root is not None else path.parent), source=str(path))
