"""Label Studio JSON <-> the label model: tasks with pre-filled predictions, and the tool's JSON export.

A task's `data` holds `image` (the URL Label Studio loads) and `synthgen_file_name` (the sample's
path in the dataset, which is how an export finds its way back). Boxes are `rectanglelabels`
regions in percent of the image; `labeling_config(classes)` is the matching project config.
Masks are not sent: reviewers correct boxes, and reviewed images come back box-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from synthgen.errors import FormatError
from synthgen.fileio import MAX_PIXELS, read_json
from synthgen.formats import fields
from synthgen.labels import Instance, Sample

FROM_NAME, TO_NAME = "label", "image"
FILE_KEY = "synthgen_file_name"


class LabelStudioFormatError(FormatError):
    """A Label Studio export that cannot be read into the label model."""


def labeling_config(classes: list[str]) -> str:
    """The Label Studio project config (XML) whose names the tasks' regions use."""
    labels = "\n".join(f"    <Label value={quoteattr(name)}/>" for name in classes)
    return (
        f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
        f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}\n  </RectangleLabels>\n</View>\n'
    )


def region(instance: Instance, width: int, height: int, region_id: str) -> dict[str, Any]:
    """One box as a Label Studio rectangle result (percent coordinates)."""
    x, y, w, h = instance.box
    entry: dict[str, Any] = {
        "id": region_id,
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "rectanglelabels",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": 100 * x / width,
            "y": 100 * y / height,
            "width": 100 * w / width,
            "height": 100 * h / height,
            "rotation": 0,
            "rectanglelabels": [instance.category],
        },
    }
    if instance.score is not None:
        entry["score"] = instance.score
    return entry


def to_task(sample: Sample, image_url: str, model_version: str, uncertainty: float) -> dict[str, Any]:
    """A task for `sample` with its instances as one prediction."""
    regions = [region(inst, sample.width, sample.height, f"p{i}") for i, inst in enumerate(sample.instances, 1)]
    return {
        "data": {"image": image_url, FILE_KEY: sample.file_name, "uncertainty": uncertainty},
        "predictions": [{"model_version": model_version, "score": uncertainty, "result": regions}],
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


def annotation_instances(annotation: dict[str, Any], classes: list[str], where: str) -> list[Instance]:
    """The rectangles of one annotation as Instances (pixels); other region types are refused."""
    instances = []
    for k, result in enumerate(fields.array(annotation.get("result") or [], f"{where}.result")):
        at = f"{where}.result[{k}]"
        result = fields.mapping(result, at)
        if result.get("type") != "rectanglelabels":
            raise LabelStudioFormatError(f"{at}.type: {fields.shown(result.get('type'))} is not supported (rectanglelabels only)")
        value = fields.mapping(result.get("value"), f"{at}.value")
        width = fields.whole(result.get("original_width"), f"{at}.original_width", 1, MAX_PIXELS)
        height = fields.whole(result.get("original_height"), f"{at}.original_height", 1, MAX_PIXELS)
        labels = fields.array(value.get("rectanglelabels"), f"{at}.value.rectanglelabels")
        if len(labels) != 1:
            raise fields.bad(f"{at}.value.rectanglelabels", "exactly one class name", labels)
        name = fields.text(labels[0], f"{at}.value.rectanglelabels[0]")
        x, y, w, h = (fields.number(value.get(key), f"{at}.value.{key}", 0.0, 100.0) for key in ("x", "y", "width", "height"))
        w, h = min(w, 100.0 - x), min(h, 100.0 - y)  # percent of the image, cut to it
        if value.get("rotation"):
            raise LabelStudioFormatError(f"{at}.value.rotation: rotated boxes are not supported")
        if name not in classes:
            raise LabelStudioFormatError(f"{at}.value.rectanglelabels: unknown class {fields.shown(name)}")
        box = (x * width / 100, y * height / 100, w * width / 100, h * height / 100)
        instances.append(Instance(category=name, box=box, area=box[2] * box[3]))
    return instances
