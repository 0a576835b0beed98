"""Label Studio JSON <-> the label model: tasks with pre-filled predictions, and the tool's JSON export.

A task's `data` holds `image` (the URL Label Studio loads), `synthgen_file_name` (the sample's
path in the dataset, which is how an export finds its way back) and why it was selected. An instance
without a mask is a `rectanglelabels` region (percent of the image); one with a mask is, by the
`masks` mode, a `brushlabels` region (Label Studio's brush RLE, see `brush_rle`, exact) or a
`polygonlabels` region (its pixel outline, `formats.polygons`), or a rectangle (`none`).
`labeling_config(classes, masks)` is the matching project config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from synthgen.errors import FormatError
from synthgen.fileio import MAX_PIXELS, read_json
from synthgen.formats import fields
from synthgen.formats.polygons import outline_polygon, polygon_mask
from synthgen.labels import Instance, Sample

FROM_NAME, TO_NAME = "label", "image"
MASK_CONTROLS = {"brush": ("brush", "BrushLabels", "brushlabels"), "polygons": ("polygon", "PolygonLabels", "polygonlabels")}
MASK_MODES = ("brush", "polygons", "none")
FILE_KEY = "synthgen_file_name"
RLE_SIZES = (3, 4, 8, 16)  # the run-length field widths Label Studio's own encoder uses
ALPHA_CUT = 128  # a brush pixel belongs to the mask when its alpha is at least this


class LabelStudioFormatError(FormatError):
    """A Label Studio export that cannot be read into the label model."""


def labeling_config(classes: list[str], masks: str = "none") -> str:
    """The Label Studio project config (XML) whose names the tasks' regions use."""
    labels = "\n".join(f"    <Label value={quoteattr(name)}/>" for name in classes)
    controls = [("label", "RectangleLabels")] + ([MASK_CONTROLS[masks][:2]] if masks in MASK_CONTROLS else [])
    body = "".join(f'  <{tag} name="{name}" toName="{TO_NAME}">\n{labels}\n  </{tag}>\n' for name, tag in controls)
    return f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n{body}</View>\n'


def brush_rle(mask: np.ndarray) -> list[int]:
    """A boolean HxW mask as Label Studio brush RLE: the RGBA image (255 where the mask is, 0 elsewhere)
    row by row, packed by thi-ng's rle-pack with 8-bit words, as label-studio-converter's `mask2rle`."""
    flat = mask.astype(bool).ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], edges))
    lengths = np.diff(np.concatenate((starts, [flat.size]))) * 4
    bits = [f"{flat.size * 4:032b}{7:05b}" + "".join(f"{size - 1:04b}" for size in RLE_SIZES)]
    for length, value in zip(lengths.tolist(), flat[starts].tolist(), strict=True):
        word = "11111111" if value else "00000000"
        while length > 2**16:
            bits.append(f"111{2**16 - 1:016b}{word}")
            length -= 2**16
        field = next(i for i, size in enumerate(RLE_SIZES) if length <= 2**size)
        bits.append(f"1{field:02b}{length - 1:0{RLE_SIZES[field]}b}{word}")
    text = "".join(bits)
    text += "0" * (-len(text) % 8)
    return np.packbits(np.frombuffer(text.encode(), dtype=np.uint8) - 48).tolist()


def brush_mask(rle: list[int], height: int, width: int, where: str) -> np.ndarray:
    """Label Studio brush RLE (any word size and run fields) -> boolean HxW mask (alpha >= 128)."""
    try:
        bits = (np.unpackbits(np.asarray(rle, dtype=np.uint8)) + 48).tobytes().decode()
        values = _unpack(bits, height * width * 4)
    except (TypeError, ValueError, OverflowError, IndexError) as error:
        raise LabelStudioFormatError(f"{where}: not Label Studio brush RLE ({error})") from None
    return values.reshape(height, width, 4)[..., 3] >= ALPHA_CUT


def _unpack(bits: str, expected: int) -> np.ndarray:
    """thi-ng rle-pack decode of a '0'/'1' string that must hold `expected` values."""
    position = 0

    def read(count: int) -> int:
        nonlocal position
        field = bits[position : position + count]
        if len(field) < count:
            raise IndexError("RLE ends early")
        position += count
        return int(field, 2) if count else 0

    total, word = read(32), read(5) + 1
    if total != expected:
        raise ValueError(f"holds {total} values, expected {expected} (height x width x 4)")
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(total, dtype=np.uint8 if word <= 8 else np.uint32)
    i = 0
    while i < total:
        repeat = read(1)
        j = min(total, i + 1 + read(sizes[read(2)]))
        if repeat:
            out[i:j] = read(word)
        else:
            out[i:j] = [read(word) for _ in range(j - i)]
        i = j
    return out


def region(instance: Instance, width: int, height: int, region_id: str, masks: str = "none") -> dict[str, Any]:
    """One instance as a Label Studio result: a rectangle, or its mask as brush RLE or a polygon."""
    if masks in MASK_CONTROLS and instance.mask is not None:
        name, _, kind = MASK_CONTROLS[masks]
        value = _mask_value(instance, width, height, masks)
    else:
        name, kind = FROM_NAME, "rectanglelabels"
        x, y, w, h = instance.box
        value = {"x": 100 * x / width, "y": 100 * y / height, "width": 100 * w / width,
                 "height": 100 * h / height, "rotation": 0}  # fmt: skip
    entry: dict[str, Any] = {
        "id": region_id, "from_name": name, "to_name": TO_NAME, "type": kind,
        "original_width": width, "original_height": height, "image_rotation": 0,
        "value": {**value, kind: [instance.category]},
    }  # fmt: skip
    if instance.score is not None:
        entry["score"] = instance.score
    return entry


def _mask_value(instance: Instance, width: int, height: int, masks: str) -> dict[str, Any]:
    mask = instance.decode_mask()
    if masks == "brush":
        return {"format": "rle", "rle": brush_rle(mask)}
    points = np.round(outline_polygon(mask) * 100 / np.array([width, height]), 6)
    return {"points": points.tolist(), "closed": True}


def to_task(
    sample: Sample, image_url: str, model_version: str, score: float, data: dict[str, Any], masks: str = "none"
) -> dict[str, Any]:
    """A task for `sample` with its instances as one prediction scored `score`; `data` joins the task's data."""
    regions = [region(inst, sample.width, sample.height, f"p{i}", masks) for i, inst in enumerate(sample.instances, 1)]
    return {
        "data": {"image": image_url, FILE_KEY: sample.file_name, **data},
        "predictions": [{"model_version": model_version, "score": score, "result": regions}],
    }


def read_export(path: Path) -> list[dict[str, Any]]:
    """The tasks of a Label Studio JSON export (the 'JSON' export, a list of tasks)."""
    tasks = read_json(Path(path))
    if not isinstance(tasks, list):
        raise LabelStudioFormatError(f"{path}: expected a JSON list of tasks (Label Studio 'JSON' export)")
    return [fields.mapping(task, f"{path}: [{k}]") for k, task in enumerate(tasks)]


def task_file_name(task: dict[str, Any], where: str) -> str:
    data = task.get("data")
    if not isinstance(data, dict) or FILE_KEY not in data:
        raise LabelStudioFormatError(f"{where}.data.{FILE_KEY}: missing; was the task made by `review export`?")
    return fields.text(data[FILE_KEY], f"{where}.data.{FILE_KEY}")


def final_annotation(task: dict[str, Any], where: str) -> tuple[int, dict[str, Any]] | None:
    """(position, annotation) of the last submitted, not-skipped annotation, or None if skipped."""
    annotations = fields.array(task.get("annotations") or [], f"{where}.annotations")
    answered = [(i, a) for i, a in enumerate(annotations) if not fields.mapping(a, f"{where}.annotations[{i}]").get("was_cancelled")]
    return answered[-1] if answered else None


def annotation_instances(
    annotation: dict[str, Any], classes: list[str], where: str, size: tuple[int, int] | None = None
) -> list[Instance]:
    """The rectangles, brush masks and polygons of one annotation as Instances (pixels); with `size`
    (width, height), every result must be of an image that size."""
    results = fields.array(annotation.get("result") or [], f"{where}.result")
    return [_result_instance(result, classes, f"{where}.result[{k}]", size) for k, result in enumerate(results)]


def _result_instance(result: Any, classes: list[str], at: str, size: tuple[int, int] | None) -> Instance:
    result = fields.mapping(result, at)
    kind = result.get("type")
    if kind not in ("rectanglelabels", "brushlabels", "polygonlabels"):
        raise LabelStudioFormatError(f"{at}.type: {fields.shown(kind)} is not supported (rectanglelabels, brushlabels, polygonlabels)")
    value = fields.mapping(result.get("value"), f"{at}.value")
    width = fields.whole(result.get("original_width"), f"{at}.original_width", 1, MAX_PIXELS)
    height = fields.whole(result.get("original_height"), f"{at}.original_height", 1, MAX_PIXELS)
    labels = fields.array(value.get(kind), f"{at}.value.{kind}")
    if len(labels) != 1:
        raise fields.bad(f"{at}.value.{kind}", "exactly one class name", labels)
    name = fields.text(labels[0], f"{at}.value.{kind}[0]")
    if name not in classes:
        raise LabelStudioFormatError(f"{at}.value.{kind}: unknown class {fields.shown(name)}")
    if size is not None and (width, height) != size:
        raise LabelStudioFormatError(f"{at}.original_width/original_height: {width}x{height}, "
                                     f"expected the image's {size[0]}x{size[1]}")  # fmt: skip
    if kind == "rectanglelabels":
        return _rectangle(value, width, height, name, at)
    if kind == "brushlabels":
        mask = brush_mask(value.get("rle"), height, width, f"{at}.value.rle")
    else:
        mask = polygon_mask(_polygon_points(value, width, height, at), height, width)
    if not mask.any():
        raise LabelStudioFormatError(f"{at}.value: the {kind} mask is empty")
    return Instance.from_mask(name, mask)


def _rectangle(value: dict[str, Any], width: int, height: int, name: str, at: str) -> Instance:
    x, y, w, h = (fields.number(value.get(key), f"{at}.value.{key}", 0.0, 100.0) for key in ("x", "y", "width", "height"))
    w, h = min(w, 100.0 - x), min(h, 100.0 - y)  # percent of the image, cut to it
    if value.get("rotation"):
        raise LabelStudioFormatError(f"{at}.value.rotation: rotated boxes are not supported")
    box = (x * width / 100, y * height / 100, w * width / 100, h * height / 100)
    return Instance(category=name, box=box, area=box[2] * box[3])


def _polygon_points(value: dict[str, Any], width: int, height: int, at: str) -> np.ndarray:
    points = fields.array(value.get("points"), f"{at}.value.points")
    coords = [fields.number(v, f"{at}.value.points[{k}]", -fields.POLYGON_MARGIN * 100, 100 + fields.POLYGON_MARGIN * 100)
              for k, point in enumerate(points) for v in fields.array(point, f"{at}.value.points[{k}]")]  # fmt: skip
    if len(coords) != 2 * len(points):
        raise fields.bad(f"{at}.value.points", "[[x, y], ...] in percent", points[:3])
    return np.array(coords, dtype=np.float64).reshape(-1, 2) * np.array([width, height]) / 100
