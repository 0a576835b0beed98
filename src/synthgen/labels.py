"""The one label model every room speaks: Category, Instance, Sample, Provenance, Dataset.

Formats read into it and write from it; backends, detectors, review and mixing produce and consume
it. Classes are identified by *name*; numeric ids exist only inside a written file (COCO ids start
at 1, in the order of `Dataset.categories`). Boxes are COCO `[x, y, w, h]` in pixels. Masks are
COCO RLE dicts (`{"size": [h, w], "counts": str}`); when a mask is present the box and area are
derived from it, never stored separately.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from pycocotools import mask as mask_utils

Source = Literal["render", "diffusion", "prelabel", "human", "import"]


@dataclass(frozen=True)
class Category:
    """A class, known by name. `id` is its COCO id in a written dataset (1-based)."""

    id: int
    name: str
    supercategory: str = ""


@dataclass
class Provenance:
    """Where a sample came from, enough to rebuild or audit it."""

    source: Source
    backend: str | None = None
    engine: str | None = None
    recipe_name: str | None = None
    recipe_hash: str | None = None
    seed: int | None = None
    index: int | None = None
    synthgen_version: str | None = None
    model_ids: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    origin: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form without empty fields."""
        values = ((name, getattr(self, name)) for name in self.__dataclass_fields__)  # shallow: fast for 1M samples
        return {k: v for k, v in values if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        extra = {k: v for k, v in data.items() if k not in cls.__dataclass_fields__}
        known.setdefault("source", "import")
        known["extra"] = {**known.get("extra", {}), **extra}
        return cls(**known)


@dataclass
class Instance:
    """One labelled object in one image.

    `mask` is a COCO RLE dict or None (box-only labels, e.g. a detector without masks).
    `score` is set for predictions; `visibility` and `truncated` for renders that know them.
    `amodal_mask` (RLE) is the whole silhouette, occluded parts included, when a render asked for it.
    """

    category: str
    box: tuple[float, float, float, float]
    area: float
    mask: dict[str, Any] | None = None
    score: float | None = None
    iscrowd: bool = False
    visibility: float | None = None
    truncated: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    amodal_mask: dict[str, Any] | None = None

    @property
    def amodal_box(self) -> tuple[float, float, float, float] | None:
        """COCO box of the amodal mask (None without one)."""
        if self.amodal_mask is None:
            return None
        return rle_box(self.amodal_mask)

    @classmethod
    def from_mask(cls, category: str, mask: np.ndarray, **kwargs: Any) -> Instance:
        """Build an instance from a boolean HxW mask; box and area come from the mask."""
        rle = encode_mask(mask)
        return cls(category=category, box=rle_box(rle), area=rle_area(rle), mask=rle, **kwargs)

    def decode_mask(self) -> np.ndarray:
        """The mask as a boolean HxW array (requires `mask`)."""
        if self.mask is None:
            raise ValueError(f"instance of {self.category!r} has no mask")
        return decode_mask(self.mask)


@dataclass
class Sample:
    """One image and its instances. `file_name` is relative to the dataset root."""

    file_name: str
    width: int
    height: int
    instances: list[Instance] = field(default_factory=list)
    provenance: Provenance = field(default_factory=lambda: Provenance(source="import"))
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used for per-image run records)."""
        data = asdict(self)
        data["provenance"] = self.provenance.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        instances = [Instance(**{**i, "box": tuple(i["box"])}) for i in data.get("instances", [])]
        provenance = Provenance.from_dict(data.get("provenance", {}))
        fields = {k: data[k] for k in ("file_name", "width", "height", "id") if k in data}
        return cls(instances=instances, provenance=provenance, **fields)


@dataclass
class Dataset:
    """Categories (in id order) and samples. `root` is where `file_name`s are resolved."""

    categories: list[Category]
    samples: list[Sample]
    root: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.categories]

    def category_id(self, name: str) -> int:
        for category in self.categories:
            if category.name == name:
                return category.id
        raise KeyError(f"unknown class {name!r}; known: {', '.join(self.class_names)}")


def normalise_name(name: str) -> str:
    """Class names compare by this: lower case, whitespace collapsed ("Traffic  Light" == "traffic light")."""
    return " ".join(str(name).split()).lower()


def categories_from_names(names: list[str]) -> list[Category]:
    """Categories with ids 1..N in the given order."""
    return [Category(id=i + 1, name=name) for i, name in enumerate(names)]


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Boolean HxW mask -> COCO RLE with `counts` as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def binary_rle(rle: dict[str, Any]) -> dict[str, Any]:
    """A compressed RLE with `counts` as bytes, as pycocotools takes it."""
    counts = rle["counts"]
    return {"size": rle["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def rle_box(rle: dict[str, Any]) -> tuple[float, float, float, float]:
    """COCO `[x, y, w, h]` bounds of a compressed RLE."""
    return tuple(float(v) for v in mask_utils.toBbox(binary_rle(rle)))


def rle_area(rle: dict[str, Any]) -> float:
    return float(mask_utils.area(binary_rle(rle)))


def segmentation_to_rle(segmentation: Any, height: int, width: int) -> dict[str, Any] | None:
    """A COCO `segmentation` (polygons, uncompressed or compressed RLE) -> compressed RLE with str
    counts, JSON-ready; None when absent."""
    if not segmentation:
        return None
    if isinstance(segmentation, list):  # polygons
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, *segmentation["size"])
    else:
        rle = segmentation
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def instances_per_class(samples: Iterable[Sample], class_names: Iterable[str] = ()) -> dict[str, int]:
    """How many instances of each class `samples` hold; every name in `class_names` appears, 0 if absent."""
    counts = Counter({name: 0 for name in class_names})
    counts.update(instance.category for sample in samples for instance in sample.instances)
    return dict(counts)


def merge_by_name(datasets: Iterable[Dataset]) -> list[str]:
    """Rename every class to its normalised name (in place) and return the union of names, first seen
    first: "Person" in one dataset and "person" in another are one class."""
    merged: dict[str, None] = {}
    for dataset in datasets:
        for sample in dataset.samples:
            for instance in sample.instances:
                instance.category = normalise_name(instance.category)
        dataset.categories = [Category(c.id, normalise_name(c.name), c.supercategory) for c in dataset.categories]
        merged.update(dict.fromkeys(dataset.class_names))
    return list(merged)


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE (str or bytes counts) -> boolean HxW mask."""
    if isinstance(rle["counts"], list):  # uncompressed RLE
        h, w = rle["size"]
        rle = mask_utils.frPyObjects(rle, h, w)
    return mask_utils.decode(binary_rle(rle)).astype(bool)
