"""`synthgen check`: a strict validator for any COCO dataset folder (ours or not).

It works on the raw JSON, not through pycocotools or our reader, since those accept boxes outside
the image, wrong sizes and duplicate ids. Every problem is one line: where, and what is wrong.

Images are found the way readers find them: `file_name` relative to the annotation file's folder
or its `images/` subfolder (COCO itself and most exports write names without the folder), to the
dataset folder or its `images/`, or to the folder given as `images`; of these, the one holding the
most of the named files is used for all of them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from pycocotools import mask as mask_utils

from synthgen.errors import shown
from synthgen.layout import ANNOTATIONS, IMAGES

AREA_TOLERANCE = 0.5  # pixels: areas are pixel counts, stored as floats
BOX_TOLERANCE = 1e-6


@dataclass
class CheckReport:
    problems: list[str]
    images: int = 0
    annotations: int = 0
    categories: int = 0
    image_root: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return f"ok: {self.images} images, {self.annotations} annotations, {self.categories} categories"


def check_dataset(folder: Path, annotations: Path | None = None, images: Path | None = None) -> CheckReport:
    """Validate `folder` (its annotations.json, or `annotations`; `folder` may be the COCO file itself)
    and the images it names (found as the module docstring says, or under `images`)."""
    if folder.is_file() and annotations is None:
        folder, annotations = folder.parent, folder
    path = annotations or folder / ANNOTATIONS
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        return CheckReport([f"{path}: cannot read COCO JSON: {error}"])
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        return CheckReport([f"{path}: expected lists 'images', 'annotations' and 'categories'"])
    problems: list[str] = []
    roots = [images] if images is not None else image_roots(folder, path)
    root = _image_root(roots, data["images"], path, problems)
    category_ids = _check_categories(data["categories"], path, problems)
    sizes = _check_images(data["images"], root, path, problems)
    _check_annotations(data["annotations"], sizes, category_ids, path, problems)
    _check_zero_ids(data["annotations"], path, problems)
    return CheckReport(problems, len(data["images"]), len(data["annotations"]), len(data["categories"]), root)


def image_roots(folder: Path, annotations: Path) -> list[Path]:
    """Where readers look for `file_name`: the annotation file's folder and its `images/`, then the
    dataset folder and its `images/` (without repeats)."""
    base = annotations.parent
    return list(dict.fromkeys([base, base / IMAGES, folder, folder / IMAGES]))


def _image_root(roots: list[Path], images: list[Any], path: Path, problems: list[str]) -> Path:
    """The root under which most named image files exist (the first one on a tie)."""
    names = [str(i["file_name"]) for i in images if isinstance(i, dict) and "file_name" in i]
    found = [sum((root / name).is_file() for name in names) for root in roots]
    if names and not any(found):
        looked = ", ".join(str(root) for root in roots)
        hint = "" if len(roots) == 1 else "; pass --images DIR if they are elsewhere"
        problems.append(f"{path}: images: none of the {len(names)} files named is under {looked}{hint}")
    return roots[found.index(max(found))]


def _check_zero_ids(annotations: list[Any], path: Path, problems: list[str]) -> None:
    """pycocotools' COCOeval stores matches as annotation ids with 0 meaning 'unmatched', so a ground
    truth annotation with id 0 is never counted as found: every detection of it is a false positive."""
    for i, ann in enumerate(annotations):
        if isinstance(ann, dict) and ann.get("id") == 0 and not isinstance(ann.get("id"), bool):
            problems.append(f"{path}: annotations[{i}].id: 0 is mis-scored by pycocotools' COCOeval (0 means 'unmatched'); number annotations from 1")


def _duplicates(ids: list[Any]) -> list[Any]:
    return [value for value, n in Counter(ids).items() if n > 1]


def _check_categories(categories: list[Any], path: Path, problems: list[str]) -> set[Any]:
    ids = [c.get("id") for c in categories if isinstance(c, dict)]
    for duplicate in _duplicates(ids):
        problems.append(f"{path}: categories: id {duplicate} used more than once")
    names = [c.get("name") for c in categories if isinstance(c, dict)]
    for duplicate in _duplicates(names):
        problems.append(f"{path}: categories: name {duplicate!r} used more than once")
    for i, category in enumerate(categories):
        if not isinstance(category, dict) or not isinstance(category.get("id"), int) or not category.get("name"):
            problems.append(f"{path}: categories[{i}]: needs an integer 'id' and a non-empty 'name' (got {shown(category)})")
    return set(ids)


def _check_images(images: list[Any], folder: Path, path: Path, problems: list[str]) -> dict[Any, tuple[int, int]]:
    for duplicate in _duplicates([i.get("id") for i in images if isinstance(i, dict)]):
        problems.append(f"{path}: images: id {duplicate} used more than once")
    for duplicate in _duplicates([i.get("file_name") for i in images if isinstance(i, dict)]):
        problems.append(f"{path}: images: file_name {duplicate!r} used more than once")
    sizes = {}
    root = folder.resolve()
    for i, image in enumerate(images):
        where = f"{path}: images[{i}]"
        if not isinstance(image, dict) or not all(k in image for k in ("id", "file_name", "width", "height")):
            problems.append(f"{where}: needs 'id', 'file_name', 'width' and 'height' (got {shown(image)})")
            continue
        width, height, name = image["width"], image["height"], str(image["file_name"])
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            problems.append(f"{where}: width and height must be positive integers, got {width!r} x {height!r}")
            continue
        sizes[image["id"]] = (width, height)
        file = (folder / name).resolve()
        if Path(name).is_absolute() or not file.is_relative_to(root):
            problems.append(f"{where}.file_name: {name!r} leaves the dataset folder")
            continue
        try:
            with Image.open(file) as opened:
                actual = opened.size
        except FileNotFoundError:
            problems.append(f"{where}.file_name: no such file: {name}")
            continue
        except (UnidentifiedImageError, OSError) as error:
            problems.append(f"{where}.file_name: unreadable image {name}: {error}")
            continue
        if actual != (width, height):
            problems.append(f"{where}: file {name} is {actual[0]}x{actual[1]}, annotation says {width}x{height}")
    return sizes


def _check_annotations(
    annotations: list[Any], sizes: dict[Any, tuple[int, int]], category_ids: set[Any], path: Path, problems: list[str]
) -> None:
    for duplicate in _duplicates([a.get("id") for a in annotations if isinstance(a, dict)]):
        problems.append(f"{path}: annotations: id {duplicate} used more than once")
    for i, ann in enumerate(annotations):
        where = f"{path}: annotations[{i}]"
        if not isinstance(ann, dict) or not all(k in ann for k in ("id", "image_id", "category_id", "bbox")):
            problems.append(f"{where}: needs 'id', 'image_id', 'category_id' and 'bbox' (got {shown(ann)})")
            continue
        if ann["category_id"] not in category_ids:
            problems.append(f"{where}.category_id: {ann['category_id']!r} is not a defined category")
        if ann["image_id"] not in sizes:
            problems.append(f"{where}.image_id: {ann['image_id']!r} is not a valid image")
            continue
        width, height = sizes[ann["image_id"]]
        _check_box(ann["bbox"], width, height, where, problems)
        if ann.get("segmentation"):
            _check_mask(ann, width, height, where, problems)


def rle_runs(counts: str | bytes) -> list[int]:
    """Run lengths of a compressed COCO RLE string (the inverse of pycocotools' rleToString)."""
    text = counts.decode("ascii") if isinstance(counts, bytes) else counts
    runs: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("truncated RLE string")
            chunk = ord(text[position]) - 48
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            position, shift = position + 1, shift + 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_box(box: Any, width: int, height: int, where: str, problems: list[str]) -> None:
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)):
        problems.append(f"{where}.bbox: expected [x, y, w, h] numbers, got {box!r}")
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        problems.append(f"{where}.bbox: width and height must be positive, got {w} x {h}")
    if x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > width + BOX_TOLERANCE or y + h > height + BOX_TOLERANCE:
        problems.append(f"{where}.bbox: [{x}, {y}, {w}, {h}] leaves the {width}x{height} image")


def _check_mask(ann: dict[str, Any], width: int, height: int, where: str, problems: list[str]) -> None:
    segmentation = ann["segmentation"]
    try:
        if isinstance(segmentation, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        else:
            if list(segmentation.get("size", [])) != [height, width]:
                problems.append(f"{where}.segmentation: size {segmentation.get('size')} is not the image's [{height}, {width}]")
                return
            counts = segmentation["counts"]
            runs = counts if isinstance(counts, list) else rle_runs(counts)
            if any(run < 0 for run in runs) or sum(runs) != height * width:
                problems.append(f"{where}.segmentation: RLE runs cover {sum(runs)} pixels, the image has {height * width}")
                return
            if isinstance(counts, list):
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        area = float(mask_utils.area(rle))
    except (TypeError, ValueError, KeyError, AttributeError, UnicodeEncodeError) as error:
        problems.append(f"{where}.segmentation: cannot decode: {error}")
        return
    if area == 0:
        problems.append(f"{where}.segmentation: empty mask")
    if "area" in ann and abs(float(ann["area"]) - area) > AREA_TOLERANCE and not isinstance(segmentation, list):
        problems.append(f"{where}.area: {ann['area']} but the mask has {area:g} pixels")
