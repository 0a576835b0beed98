"""`synthgen check`: a strict validator for any COCO dataset folder (ours or not).

It works on the raw JSON, not through pycocotools or our reader, since those accept boxes outside
the image, wrong sizes and duplicate ids. Every problem is one line: where, and what is wrong.
Fields are checked by `formats.fields` before anything is decoded (pycocotools never sees a NaN).

Images are found the way readers find them: `file_name` relative to the annotation file's folder
or its `images/` subfolder (COCO itself and most exports write names without the folder), to the
dataset folder or its `images/`, or to the folder given as `images`; of these, the one holding the
most of the named files is used for all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen.errors import FormatError, InputError, UnsafePathError, shown
from synthgen.fileio import image_size, inside, read_json
from synthgen.formats import fields
from synthgen.labels import rle_area
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
        data = read_json(path)
    except InputError as error:
        return CheckReport([str(error)])
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
    names = [i["file_name"] for i in images if isinstance(i, dict) and isinstance(i.get("file_name"), str) and "\0" not in i["file_name"]]
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


def _checked(problems: list[str], check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)`, or None with its problem appended."""
    try:
        return check(*args)
    except FormatError as error:
        problems.append(str(error))
        return None


def _ids(entries: list[Any], key: str, where: str, problems: list[str]) -> list[Any]:
    """The `key` of each object entry, checked to be ids; duplicates are reported."""
    ids = [_checked(problems, fields.identifier, e.get(key), f"{where}[{i}].{key}") for i, e in enumerate(entries) if isinstance(e, dict)]
    for duplicate in _duplicates([i for i in ids if i is not None]):
        problems.append(f"{where}: {key} {shown(duplicate)} used more than once")
    return ids


def _duplicates(ids: list[Any]) -> list[Any]:
    return [value for value, n in Counter(ids).items() if n > 1]


def _check_categories(categories: list[Any], path: Path, problems: list[str]) -> set[Any]:
    ids = _ids(categories, "id", f"{path}: categories", problems)
    names = [c.get("name") for c in categories if isinstance(c, dict) and isinstance(c.get("name"), str)]
    for duplicate in _duplicates(names):
        problems.append(f"{path}: categories: name {shown(duplicate)} used more than once")
    for i, category in enumerate(categories):
        if not isinstance(category, dict) or not isinstance(category.get("id"), int) or not category.get("name"):
            problems.append(f"{path}: categories[{i}]: needs an integer 'id' and a non-empty 'name' (got {shown(category)})")
    return set(ids) - {None}


def _check_images(images: list[Any], folder: Path, path: Path, problems: list[str]) -> dict[Any, tuple[int, int]]:
    _ids(images, "id", f"{path}: images", problems)
    names = [i.get("file_name") for i in images if isinstance(i, dict) and isinstance(i.get("file_name"), str)]
    for duplicate in _duplicates(names):
        problems.append(f"{path}: images: file_name {shown(duplicate)} used more than once")
    sizes = {}
    for i, image in enumerate(images):
        where = f"{path}: images[{i}]"
        if not isinstance(image, dict) or not all(k in image for k in ("id", "file_name", "width", "height")):
            problems.append(f"{where}: needs 'id', 'file_name', 'width' and 'height' (got {shown(image)})")
            continue
        width, height = image["width"], image["height"]
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            problems.append(f"{where}: width and height must be positive integers, got {shown(width)} x {shown(height)}")
            continue
        image_id = _checked([], fields.identifier, image["id"], where)  # a bad id is reported by _ids
        if image_id is None or _checked(problems, fields.size, width, height, where) is None:
            continue
        sizes[image_id] = (width, height)
        _check_image_file(folder, image["file_name"], (width, height), where, problems)
    return sizes


def _check_image_file(folder: Path, name: Any, size: tuple[int, int], where: str, problems: list[str]) -> None:
    if _checked(problems, fields.text, name, f"{where}.file_name") is None:
        return
    try:
        file = inside(folder, name, f"{where}.file_name")
    except UnsafePathError:
        problems.append(f"{where}.file_name: {shown(name)} leaves the dataset folder")
        return
    if not file.exists():
        problems.append(f"{where}.file_name: no such file: {name}")
        return
    try:
        actual = image_size(file)
    except InputError as error:
        problems.append(f"{where}.file_name: unreadable image {name}: {str(error).removeprefix(f'{file}: ')}")
        return
    if actual != size:
        problems.append(f"{where}: file {name} is {actual[0]}x{actual[1]}, annotation says {size[0]}x{size[1]}")


def _check_annotations(
    annotations: list[Any], sizes: dict[Any, tuple[int, int]], category_ids: set[Any], path: Path, problems: list[str]
) -> None:
    _ids(annotations, "id", f"{path}: annotations", problems)
    for i, ann in enumerate(annotations):
        where = f"{path}: annotations[{i}]"
        if not isinstance(ann, dict) or not all(k in ann for k in ("id", "image_id", "category_id", "bbox")):
            problems.append(f"{where}: needs 'id', 'image_id', 'category_id' and 'bbox' (got {shown(ann)})")
            continue
        category_id = _checked(problems, fields.identifier, ann["category_id"], f"{where}.category_id")
        image_id = _checked(problems, fields.identifier, ann["image_id"], f"{where}.image_id")
        if category_id is not None and category_id not in category_ids:
            problems.append(f"{where}.category_id: {category_id!r} is not a defined category")
        if image_id is None:
            continue
        if image_id not in sizes:
            problems.append(f"{where}.image_id: {image_id!r} is not a valid image")
            continue
        width, height = sizes[image_id]
        _check_box(ann["bbox"], width, height, where, problems)
        if ann.get("segmentation"):
            _check_mask(ann, width, height, where, problems)


def _check_box(box: Any, width: int, height: int, where: str, problems: list[str]) -> None:
    if not (isinstance(box, list) and len(box) == 4 and all(map(fields.is_finite, box))):
        problems.append(f"{where}.bbox: expected [x, y, w, h] numbers, got {shown(box)}")
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        problems.append(f"{where}.bbox: width and height must be positive, got {w} x {h}")
    if x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > width + BOX_TOLERANCE or y + h > height + BOX_TOLERANCE:
        problems.append(f"{where}.bbox: [{x}, {y}, {w}, {h}] leaves the {width}x{height} image")


def _check_mask(ann: dict[str, Any], width: int, height: int, where: str, problems: list[str]) -> None:
    rle = _checked(problems, fields.segmentation, ann["segmentation"], f"{where}.segmentation", height, width)
    if rle is None:
        return
    area = rle_area(rle)
    if area == 0:
        problems.append(f"{where}.segmentation: empty mask")
    if "area" in ann and not isinstance(ann["segmentation"], list):
        stored = _checked(problems, fields.number, ann["area"], f"{where}.area", 0.0)
        if stored is not None and abs(stored - area) > AREA_TOLERANCE:
            problems.append(f"{where}.area: {ann['area']} but the mask has {area:g} pixels")
