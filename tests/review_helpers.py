"""Review test helpers: real photos pre-labelled with real masks, and a reviewer who accepts predictions."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import invoke

RESULTS = "test_coco_det_AP_H_56.json"


def prelabel_boxes(coco_person: Path, out: Path) -> Path:
    """The real photos pre-labelled from the real detector's box results (scores >= 0.3)."""
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person")
    assert run.exit_code == 0, run.output
    return out


def prelabel_masks(coco_person: Path, out: Path) -> Path:
    """The real photos pre-labelled with their true COCO person masks, scored 0.31, 0.36, ... (14 masks)."""
    truth = json.loads((coco_person / "test_coco.json").read_text())
    results = [
        {"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "segmentation": a["segmentation"],
         "score": round(0.31 + 0.05 * k, 2)}
        for k, a in enumerate(truth["annotations"])
    ]  # fmt: skip
    results_file = out.parent / f"{out.name}-results.json"
    results_file.write_text(json.dumps(results))
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", results_file, "--classes", "person")
    assert run.exit_code == 0, run.output
    return out


def answered(tasks: list[dict], skip=()) -> list[dict]:
    """A Label Studio export in which a reviewer accepted each prediction (or skipped the task)."""
    export = []
    for task_id, task in enumerate(tasks, start=1):
        regions = [{k: v for k, v in r.items() if k != "score"} for r in task["predictions"][0]["result"]]
        annotation = {"id": 100 + task_id, "completed_by": 1, "was_cancelled": task_id in skip, "result": regions}
        export.append({"id": task_id, "data": task["data"], "annotations": [annotation], "predictions": []})
    return export


def mask_iou(a, b) -> float:
    return float((a & b).sum() / (a | b).sum())
