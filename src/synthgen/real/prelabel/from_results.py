"""Predictions a team already has, in COCO results format (`[{image_id, category_id, bbox, score,
segmentation?}]`), as a Detector over a photos folder.

Image ids are named by `--images-json` (a COCO file whose `images` give `id` -> `file_name` and
whose `categories` name the category ids) or, without it, by the photo's numeric file stem (COCO's
`000000000785.jpg` is id 785) with `--classes` naming category ids 1..N in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.fileio import read_json
from synthgen.formats import fields
from synthgen.labels import Instance, decode_mask
from synthgen.real.prelabel.base import Photo, PrelabelError, clip_box, file_sha256


def read_results(path: Path) -> list[dict[str, Any]]:
    """The entries of a COCO results file, each checked for the fields this module uses (`where` added:
    `FILE: [k]`, for the messages of checks made later, such as the mask's)."""
    results = read_json(Path(path))
    if not isinstance(results, list):
        raise PrelabelError(f"{path}: expected a JSON list of detections (COCO results format)")
    checked = []
    for position, entry in enumerate(results):
        where = f"{path}: [{position}]"
        entry = fields.mapping(entry, where)
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in entry:
                raise PrelabelError(f"{where}: missing key {key!r}")
        fields.identifier(entry["image_id"], f"{where}.image_id")
        fields.identifier(entry["category_id"], f"{where}.category_id")
        fields.box(entry["bbox"], f"{where}.bbox")
        fields.score(entry["score"], f"{where}.score")
        if not isinstance(entry.get("segmentation") or [], (list, dict)):
            raise fields.bad(f"{where}.segmentation", "polygons or an RLE", entry["segmentation"])
        checked.append({**entry, "where": where})
    return checked


def result_instance(entry: dict[str, Any], category: str, width: int, height: int) -> Instance:
    """One results entry as an Instance (box cut to the image; mask kept when the entry has one)."""
    mask = fields.segmentation(entry.get("segmentation"), f"{entry['where']}.segmentation", height, width)
    if mask is not None:
        return Instance.from_mask(category, decode_mask(mask), score=float(entry["score"]))
    box = clip_box(tuple(float(v) for v in entry["bbox"]), width, height)
    return Instance(category=category, box=box, area=box[2] * box[3], score=float(entry["score"]))


class ResultsDetector:
    """Looks predictions up by photo instead of computing them."""

    def __init__(
        self, path: Path, photo_names: list[str], classes: list[str], images_json: Path | None, threshold: float
    ):
        self.path, self.threshold = Path(path), threshold
        ids_by_name, category_names = self._naming(photo_names, classes, images_json)
        known = list(dict.fromkeys(category_names.values()))
        unknown = [name for name in classes if name not in known]
        if unknown:
            raise PrelabelError(f"--classes: {', '.join(unknown)} not among the categories ({', '.join(known)})")
        self.classes = classes or known
        self.by_name: dict[str, list[dict[str, Any]]] = {name: [] for name in photo_names}
        names_by_id = {image_id: name for name, image_id in ids_by_name.items()}
        for position, entry in enumerate(read_results(self.path)):
            if entry["image_id"] not in names_by_id:
                raise PrelabelError(f"{self.path}: [{position}].image_id: {entry['image_id']!r} is not a photo in the folder")
            if entry["category_id"] not in category_names:
                raise PrelabelError(f"{self.path}: [{position}].category_id: unknown category {entry['category_id']!r}")
            if entry["score"] >= threshold and category_names[entry["category_id"]] in self.classes:
                entry = {**entry, "category": category_names[entry["category_id"]]}
                self.by_name[names_by_id[entry["image_id"]]].append(entry)
        self.weights_sha256 = file_sha256(self.path)

    def _naming(
        self, photo_names: list[str], classes: list[str], images_json: Path | None
    ) -> tuple[dict[str, Any], dict[Any, str]]:
        """(image id by photo name, class name by category id)."""
        if images_json is None:
            if not classes:
                raise PrelabelError(f"{self.path}: name its category ids with --classes or --images-json")
            ids = {name: int(Path(name).stem) for name in photo_names if Path(name).stem.isdigit()}
            return ids, {i + 1: name for i, name in enumerate(classes)}
        coco = fields.mapping(read_json(Path(images_json)), str(images_json))
        by_file, category_names = {}, {}
        for key, into, name_key in (("images", by_file, "file_name"), ("categories", category_names, "name")):
            for k, item in enumerate(fields.array(coco.get(key), f"{images_json}: {key}")):
                item = fields.mapping(item, f"{images_json}: {key}[{k}]")
                name = fields.text(item.get(name_key), f"{images_json}: {key}[{k}].{name_key}")
                item_id = fields.identifier(item.get("id"), f"{images_json}: {key}[{k}].id")
                into.update({name: item_id} if key == "images" else {item_id: name})
        return {name: by_file[name] for name in photo_names if name in by_file}, category_names

    def describe(self) -> dict[str, Any]:
        return {"detector": f"results:{self.path.name}", "weights_sha256": self.weights_sha256, "threshold": self.threshold}

    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        return [
            [result_instance(e, e["category"], p.image.width, p.image.height) for e in self.by_name.get(p.name, [])]
            for p in photos
        ]
