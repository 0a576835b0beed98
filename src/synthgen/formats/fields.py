"""Field-level checks of foreign label files, before anything is built from them or written.

Each check takes the raw JSON value and `where` (`FILE: field.path`) and returns the value in the
label model's type, or raises `FormatError("FILE: field.path: expected WHAT (got VALUE)")`. Values
are shown shortened, never a whole file's contents. Masks are checked before pycocotools sees them:
polygons must be finite, near the image and of bounded length (pycocotools rasterises every edge, so
one NaN or 1e12 coordinate exhausts memory), RLE runs must cover exactly the image.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthgen.errors import FormatError, shown
from synthgen.fileio import MAX_PIXELS
from synthgen.labels import Provenance, segmentation_to_rle

MAX_TEXT = 4096  # characters in a name or id
POLYGON_MARGIN = 1.0  # polygon points may lie up to this many image sizes outside the image
POLYGON_LENGTH = 100  # polygons of one mask may be at most this many image perimeters long


def bad(where: str, expected: str, value: Any) -> FormatError:
    return FormatError(f"{where}: expected {expected} (got {shown(value)})")


def is_finite(value: Any) -> bool:
    """A number that is finite as a float (JSON integers can be too large for one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**1000
    return isinstance(value, float) and math.isfinite(value)


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite number in [low, high]."""
    if not is_finite(value) or not low <= value <= high:
        span = "a finite number" if (low, high) == (-math.inf, math.inf) else f"a number in [{low:g}, {high:g}]"
        raise bad(where, span, value)
    return float(value)


def whole(value: Any, where: str, low: int = 0, high: int = 2**53) -> int:
    """A whole number in [low, high] (an integral float such as 640.0 is accepted)."""
    if not is_finite(value) or value != int(value) or not low <= value <= high:
        raise bad(where, f"a whole number in [{low}, {high}]", value)
    return int(value)


def text(value: Any, where: str, empty: bool = False) -> str:
    """A string without NUL bytes, at most `MAX_TEXT` characters (non-empty unless `empty`)."""
    if not isinstance(value, str) or "\0" in value or len(value) > MAX_TEXT or (not value and not empty):
        raise bad(where, f"a{'' if empty else ' non-empty'} string without NUL bytes", value)
    return value


def identifier(value: Any, where: str) -> int | str:
    """An id: a whole number or a string."""
    if isinstance(value, str):
        return text(value, where)
    if not is_finite(value) or value != int(value):
        raise bad(where, "an id (a whole number or a string)", value)
    return int(value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(where, "an object", value)
    return value


def array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(where, "a list", value)
    return value


def size(width: Any, height: Any, where: str) -> tuple[int, int]:
    """An image's (width, height): positive whole numbers, at most `MAX_PIXELS` pixels together."""
    width, height = whole(width, f"{where}.width", 1, MAX_PIXELS), whole(height, f"{where}.height", 1, MAX_PIXELS)
    if width * height > MAX_PIXELS:
        raise bad(f"{where}.width", f"at most {MAX_PIXELS} pixels (width x height)", f"{width}x{height}")
    return width, height


def box(value: Any, where: str) -> tuple[float, float, float, float]:
    """A COCO `[x, y, w, h]` of finite numbers with w, h >= 0."""
    if not (isinstance(value, list) and len(value) == 4 and all(map(is_finite, value))):
        raise bad(where, "[x, y, w, h] of 4 finite numbers", value)
    if value[2] < 0 or value[3] < 0:
        raise bad(where, "a box with w, h >= 0", value)
    return tuple(float(v) for v in value)


def score(value: Any, where: str) -> float | None:
    return None if value is None else number(value, where, 0.0, 1.0)


def segmentation(value: Any, where: str, height: int, width: int) -> dict[str, Any] | None:
    """A COCO `segmentation` (polygons, uncompressed or compressed RLE) checked, as compressed RLE."""
    if value is None or value == []:
        return None
    if isinstance(value, list):
        _polygons(value, where, height, width)
    elif isinstance(value, dict):
        _rle(value, where, height, width)
    else:
        raise bad(where, "polygons [[x1, y1, ...], ...] or an RLE {size, counts}", value)
    return segmentation_to_rle(value, height, width)


def _polygons(value: list[Any], where: str, height: int, width: int) -> None:
    length = 0.0
    for k, polygon in enumerate(value):
        at = f"{where}[{k}]"
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2 or not all(map(is_finite, polygon)):
            raise bad(at, "a polygon [x1, y1, x2, y2, x3, y3, ...] of finite numbers (an even count >= 6)", polygon)
        xy = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        limits = np.array([width, height]) * POLYGON_MARGIN
        if (xy < -limits).any() or (xy > np.array([width, height]) + limits).any():
            raise bad(at, f"points near the {width}x{height} image", polygon)
        length += float(np.abs(np.diff(np.vstack([xy, xy[:1]]), axis=0)).sum())
    if length > POLYGON_LENGTH * 2 * (width + height):
        raise bad(where, f"polygons at most {POLYGON_LENGTH} image perimeters long", f"{length:.0f} pixels")


def _rle(value: dict[str, Any], where: str, height: int, width: int) -> None:
    if value.get("size") != [height, width]:
        raise bad(f"{where}.size", f"the image's [height, width] [{height}, {width}]", value.get("size"))
    counts = value.get("counts")
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts):
            raise bad(f"{where}.counts", "run lengths (whole numbers >= 0)", counts)
        runs = counts
    elif isinstance(counts, str) and all(48 <= ord(c) < 112 for c in counts):
        runs = rle_runs(counts)
    else:
        raise bad(f"{where}.counts", "a list of runs or a COCO RLE string", counts)
    if any(run < 0 for run in runs) or sum(runs) != height * width:
        raise bad(f"{where}.counts", f"runs covering the image's {height * width} pixels", f"{sum(runs)} pixels")


def rle_runs(counts: str) -> list[int]:
    """Run lengths of a compressed COCO RLE string (the inverse of pycocotools' rleToString); a
    truncated string gives a negative run, which the callers refuse."""
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                return [*runs, -1]
            chunk = ord(counts[position]) - 48
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            position, shift = position + 1, shift + 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


PROVENANCE_TEXT = ("backend", "engine", "recipe_name", "recipe_hash", "synthgen_version", "origin")


def provenance(value: Any, where: str) -> Provenance:
    """An image's `provenance` object (any foreign keys are kept in `extra`)."""
    data = dict(mapping(value, where))
    data.setdefault("source", "import")
    if data["source"] not in ("render", "diffusion", "prelabel", "human", "import"):
        raise bad(f"{where}.source", "render, diffusion, prelabel, human or import", data["source"])
    for key in PROVENANCE_TEXT:
        if data.get(key) is not None:
            text(data[key], f"{where}.{key}", empty=True)
    for key in ("seed", "index"):
        if data.get(key) is not None:
            whole(data[key], f"{where}.{key}", -(2**63), 2**63)
    for key, value_of in (("model_ids", text), ("scores", number)):
        for name, entry in mapping(data.get(key, {}), f"{where}.{key}").items():
            value_of(entry, f"{where}.{key}.{name}")
    mapping(data.get("extra", {}), f"{where}.extra")
    return Provenance.from_dict(data)
