"""Label Studio JSON <-> the label model: tasks with pre-filled predictions, and the tool's JSON export.

A task's `data` holds `image` (the URL Label Studio loads) and `synthgen_file_name` (the sample's
path in the dataset, which is how an export finds its way back). Boxes are `rectanglelabels`
regions in percent of the image; `labeling_config(classes)` is the matching project config.
Masks are not sent: reviewers correct boxes, and reviewed images come back box-only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from synthgen.errors import FormatError
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
    try:
        tasks = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise LabelStudioFormatError(f"{path}: cannot read Label Studio JSON export: {error}") from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise LabelStudioFormatError(f"{path}: expected a JSON list of tasks (Label Studio 'JSON' export)")
    return tasks


def task_file_name(task: dict[str, Any], where: str) -> str:
    try:
        return str(task["data"][FILE_KEY])
    except (KeyError, TypeError):
        raise LabelStudioFormatError(f"{where}.data.{FILE_KEY}: missing; was the task made by `review export`?") from None


def final_annotation(task: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """(position, annotation) of the last submitted, not-skipped annotation, or None if skipped."""
    answered = [
        (i, a) for i, a in enumerate(task.get("annotations") or []) if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return answered[-1] if answered else None


def annotation_instances(annotation: dict[str, Any], classes: list[str], where: str) -> list[Instance]:
    """The rectangles of one annotation as Instances (pixels); other region types are refused."""
    instances = []
    for k, result in enumerate(annotation.get("result") or []):
        at = f"{where}.result[{k}]"
        if result.get("type") != "rectanglelabels":
            raise LabelStudioFormatError(f"{at}.type: {result.get('type')!r} is not supported (rectanglelabels only)")
        try:
            value, width, height = result["value"], result["original_width"], result["original_height"]
            (name,) = value["rectanglelabels"]
            box = tuple(float(v) for v in (
                value["x"] * width / 100, value["y"] * height / 100,
                value["width"] * width / 100, value["height"] * height / 100,
            ))  # fmt: skip
        except (KeyError, TypeError, ValueError) as error:
            raise LabelStudioFormatError(f"{at}.value: malformed rectangle ({error!r})") from None
        if value.get("rotation"):
            raise LabelStudioFormatError(f"{at}.value.rotation: rotated boxes are not supported")
        if name not in classes:
            raise LabelStudioFormatError(f"{at}.value.rectanglelabels: unknown class {name!r}")
        instances.append(Instance(category=name, box=box, area=box[2] * box[3]))
    return instances
