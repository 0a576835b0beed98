"""COCOeval (pycocotools) of predictions against ground truth: AP, AP50, AP75 and AP per class.

Ground truth is a COCO file (e.g. a dataset's `annotations.json`). Predictions are either a COCO
results list (ids as in the ground truth file) or a labelled COCO file with scores, such as a
`prelabel` dataset, matched to the ground truth by image `file_name` (or, for a pre-labelled photo,
its path in the photos folder) and class *name*.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import FormatError, InputError
from synthgen.fileio import read_json
from synthgen.formats import fields
from synthgen.formats.coco import CocoFormatError, from_coco, read_coco, to_coco
from synthgen.formats.rounds import RoundsError, record_ap, round_for_ap
from synthgen.labels import Dataset
from synthgen.real.prelabel.base import PrelabelError, file_sha256
from synthgen.real.prelabel.from_results import read_results

IOU_TYPES = ("bbox", "segm")


class EvalError(InputError):
    """Bad evaluation input; the message names the file and field."""


@dataclass
class EvalResult:
    ap: float
    ap50: float
    ap75: float
    per_class: dict[str, float]
    images: int
    predictions: int


def evaluate(ground_truth: Path, predictions: Path, iou_type: str = "bbox") -> EvalResult:
    """Score the predictions file against the ground truth file (its boxes as written)."""
    if iou_type not in IOU_TYPES:
        raise EvalError(f"--iou-type: {iou_type!r} is not one of {', '.join(IOU_TYPES)}")
    ground = read_json(ground_truth)
    try:
        from_coco(ground, source=str(ground_truth))  # validates the ground truth
    except CocoFormatError as error:
        raise EvalError(str(error)) from None
    if iou_type == "segm":
        _require_masks(ground, ground_truth)
    raw_predictions = read_json(predictions)
    if isinstance(raw_predictions, list):
        return coco_eval(ground, _results_from_file(predictions, ground, iou_type), iou_type)
    try:
        predicted = from_coco(raw_predictions, source=str(predictions))
    except CocoFormatError as error:
        raise EvalError(str(error)) from None
    return coco_eval(ground, _results_from_dataset(predictions, predicted, ground, iou_type), iou_type)


def evaluate_datasets(truth: Dataset, predicted: Dataset, iou_type: str = "bbox") -> EvalResult:
    """Score a predicted dataset against a labelled one (same file names, classes by name)."""
    ground = to_coco(truth)
    return coco_eval(ground, _results_from_dataset(Path("predictions"), predicted, ground, iou_type), iou_type)


def check_round_options(
    rounds: Path | None, stage: str | None, ground_truth: Path, number: int | None = None
) -> tuple[str, list[str]] | None:
    """`--rounds` and `--stage` come together, and the validation set fits the round (before any
    evaluation); returns the validation file's (sha256, class names) for `record_round`, None without `--rounds`."""
    if (rounds is None) != (stage is None):
        raise RoundsError("--rounds, --stage: give both (the rounds log, and before or after retraining) or neither")
    if rounds is None:
        return None
    validation = file_sha256(ground_truth), _class_names(ground_truth)
    round_for_ap(rounds, stage, ground_truth, *validation, number)
    return validation


def record_round(
    rounds: Path, stage: str, result: EvalResult, ground_truth: Path, validation: tuple[str, list[str]],
    predictions: Path, number: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Record `result` in the rounds log as round `number`'s (default: the last's) AP before or after
    retraining; `ground_truth` is the fixed validation set, `validation` its (sha256, class names)."""
    ap = {"ap": result.ap, "ap50": result.ap50, "ap75": result.ap75}
    return record_ap(rounds, stage, ap, ground_truth, *validation, predictions, number)


def _class_names(ground_truth: Path) -> list[str]:
    try:
        return read_coco(ground_truth).class_names
    except CocoFormatError as error:
        raise EvalError(str(error)) from None


def _require_masks(ground: dict[str, Any], path: Path) -> None:
    """`--iou-type segm` compares masks: every ground truth annotation needs one."""
    for position, ann in enumerate(ground.get("annotations", [])):
        if not ann.get("segmentation"):
            raise EvalError(f"{path}: annotations[{position}].segmentation: expected a mask for --iou-type segm (got none)")


def _results_from_file(path: Path, ground: dict[str, Any], iou_type: str) -> list[dict[str, Any]]:
    """A COCO results list, checked against the ground truth's image and category ids; masks checked
    against the image size (and required for `segm`: pycocotools would silently use the boxes)."""
    try:
        entries = read_results(path)
    except (PrelabelError, FormatError) as error:
        raise EvalError(str(error)) from None
    sizes = {image["id"]: (image["height"], image["width"]) for image in ground["images"]}
    category_ids = {category["id"] for category in ground["categories"]}
    results = []
    for entry in entries:
        where = entry.pop("where")
        if entry["image_id"] not in sizes:
            raise EvalError(f"{where}.image_id: {fields.shown(entry['image_id'])} is not in the ground truth")
        if entry["category_id"] not in category_ids:
            raise EvalError(f"{where}.category_id: {fields.shown(entry['category_id'])} is not in the ground truth")
        mask = fields.segmentation(entry.get("segmentation"), f"{where}.segmentation", *sizes[entry["image_id"]])
        if iou_type == "segm" and mask is None:
            raise EvalError(f"{where}.segmentation: expected a mask for --iou-type segm (got none)")
        results.append({**entry, "segmentation": mask} if mask is not None else entry)
    return results


def _results_from_dataset(
    path: Path, predicted: Dataset, ground: dict[str, Any], iou_type: str
) -> list[dict[str, Any]]:
    """Scored instances of a labelled file as results, matched by file name and class name."""
    ids_by_file = {image["file_name"]: image["id"] for image in ground["images"]}
    ids_by_class = {category["name"]: category["id"] for category in ground["categories"]}
    results = []
    for position, sample in enumerate(predicted.samples):
        name = sample.file_name if sample.file_name in ids_by_file else sample.provenance.origin
        if name not in ids_by_file:
            raise EvalError(f"{path}: images[{position}].file_name: {sample.file_name!r} is not in the ground truth")
        for instance in sample.instances:
            if instance.category not in ids_by_class:
                raise EvalError(f"{path}: categories: class {instance.category!r} is not in the ground truth")
            if iou_type == "segm" and instance.mask is None:
                raise EvalError(f"{path}: {sample.file_name}: a prediction has no mask (needed for --iou-type segm)")
            entry = {
                "image_id": ids_by_file[name],
                "category_id": ids_by_class[instance.category],
                "bbox": list(instance.box),
                "score": 1.0 if instance.score is None else instance.score,
            }
            if instance.mask is not None:
                entry["segmentation"] = instance.mask
            results.append(entry)
    return results


def coco_eval(ground: dict[str, Any], results: list[dict[str, Any]], iou_type: str = "bbox") -> EvalResult:
    """Run pycocotools' COCOeval on a ground truth COCO dict; empty predictions score 0."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = {category["id"]: category["name"] for category in ground["categories"]}
    if not results:
        return EvalResult(0.0, 0.0, 0.0, {name: 0.0 for name in names.values()}, len(ground["images"]), 0)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = ground
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # IoUs x recalls x classes, all areas, 100 dets
    per_class = {}
    for k, category_id in enumerate(evaluation.params.catIds):
        values = precision[:, :, k]
        per_class[names[category_id]] = float(values[values > -1].mean()) if np.any(values > -1) else -1.0
    stats = [max(float(v), 0.0) for v in evaluation.stats[:3]]
    return EvalResult(*stats, per_class=per_class, images=len(ground["images"]), predictions=len(results))
