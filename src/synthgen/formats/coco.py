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
from synthgen.fileio import read_json
from synthgen.formats import fields
from synthgen.labels import Category, Dataset, Instance, Sample, rle_area, rle_box

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


def from_coco(data: Any, root: str | None = None, source: str = "coco file") -> Dataset:
    """A COCO dict -> Dataset, every field checked first (`formats.fields`). Ids in the file are kept on
    samples; categories are renumbered 1..N."""
    data = fields.mapping(data, source)
    file_categories = [_category(c, f"{source}: categories[{k}]") for k, c in enumerate(_list(data, "categories", source))]
    background_ids = {c["id"] for c in file_categories if c["name"] in BACKGROUND_NAMES}
    file_categories = sorted((c for c in file_categories if c["id"] not in background_ids), key=lambda c: c["id"])
    names_by_id = {c["id"]: c["name"] for c in file_categories}
    for key in ("id", "name"):
        values = [c[key] for c in file_categories]
        if len(set(values)) < len(values):
            raise fields.bad(f"{source}: categories", f"each {key} once (two classes of one name would merge)", next(v for v in values if values.count(v) > 1))
    categories = [Category(id=i + 1, name=c["name"], supercategory=c["supercategory"]) for i, c in enumerate(file_categories)]
    samples: dict[Any, Sample] = {}
    for k, image in enumerate(_list(data, "images", source)):
        sample = _sample(image, f"{source}: images[{k}]")
        if sample.id in samples:
            raise fields.bad(f"{source}: images[{k}].id", "an id no other image has", sample.id)
        samples[sample.id] = sample
    for k, ann in enumerate(data.get("annotations", [])):
        where = f"{source}: annotations[{k}]"
        ann = fields.mapping(ann, where)
        image_id = fields.identifier(ann.get("image_id"), f"{where}.image_id")
        category_id = fields.identifier(ann.get("category_id"), f"{where}.category_id")
        if category_id in background_ids:
            continue
        if image_id not in samples:
            raise CocoFormatError(f"{where}.image_id: no image with id {fields.shown(image_id)}")
        if category_id not in names_by_id:
            raise CocoFormatError(f"{where}.category_id: no category with id {fields.shown(category_id)}")
        samples[image_id].instances.append(_instance(ann, names_by_id[category_id], samples[image_id], where))
    info = data.get("info") or {}
    return Dataset(categories=categories, samples=list(samples.values()), root=root, info=fields.mapping(info, f"{source}: info"))


def _list(data: dict[str, Any], key: str, source: str) -> list[Any]:
    if key not in data:
        raise CocoFormatError(f"{source}: {key}: required list is missing")
    return fields.array(data[key], f"{source}: {key}")


def _category(category: Any, where: str) -> dict[str, Any]:
    category = fields.mapping(category, where)
    return {
        "id": fields.whole(category.get("id"), f"{where}.id", -(2**53)),
        "name": fields.text(category.get("name"), f"{where}.name"),
        "supercategory": fields.text(category.get("supercategory") or "", f"{where}.supercategory", empty=True),
    }


def _sample(image: Any, where: str) -> Sample:
    image = fields.mapping(image, where)
    width, height = fields.size(image.get("width"), image.get("height"), where)
    return Sample(
        file_name=fields.text(image.get("file_name"), f"{where}.file_name"),
        width=width,
        height=height,
        provenance=fields.provenance(image.get("provenance", {"source": "import"}), f"{where}.provenance"),
        id=fields.identifier(image.get("id"), f"{where}.id"),
    )


def _instance(ann: dict[str, Any], category: str, sample: Sample, where: str) -> Instance:
    mask = fields.segmentation(ann.get("segmentation"), f"{where}.segmentation", sample.height, sample.width)
    # The file's own box is kept (a person's sub-pixel box is not the rasterised mask's bounds);
    # the mask's bounds only where it gives none. A masked instance's area is its mask's pixels.
    if ann.get("bbox") is not None or mask is None:
        box = fields.box(ann.get("bbox"), f"{where}.bbox")
    else:
        box = rle_box(mask)
    if mask is not None:
        area = rle_area(mask)
    else:
        area = fields.number(ann.get("area", box[2] * box[3]), f"{where}.area", 0.0)
    truncated = ann.get("truncated")
    if truncated is not None and not isinstance(truncated, bool):
        raise fields.bad(f"{where}.truncated", "true or false", truncated)
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1):
        raise fields.bad(f"{where}.iscrowd", "0 or 1", iscrowd)
    return Instance(
        category=category,
        box=box,
        area=area,
        mask=mask,
        score=fields.score(ann.get("score"), f"{where}.score"),
        iscrowd=bool(iscrowd),
        visibility=fields.score(ann.get("visibility"), f"{where}.visibility"),
        truncated=truncated,
        attributes=fields.mapping(ann.get("attributes", {}), f"{where}.attributes"),
        amodal_mask=fields.segmentation(ann.get("amodal_segmentation"), f"{where}.amodal_segmentation", sample.height, sample.width),
    )


def read_coco(path: str | Path, root: str | Path | None = None) -> Dataset:
    """Read a COCO file; `root` (default: the file's folder) resolves image file names."""
    path = Path(path)
    data = read_json(path)
    return from_coco(data, root=str(root if root is not None else path.parent), source=str(path))
