"""The experiment's statistics: per-class AP of every run, with 95 % intervals from the seeds and a
paired bootstrap over the test images, and a verdict per class and arm against `real`.

pycocotools matches each run's detections to the ground truth once per image (COCOeval.evaluate).
AP is then recomputed in numpy from those matches for image weights (how many times a bootstrap
draw takes each test image), exactly as COCOeval.accumulate does for weights of one (the tests check
it), so a thousand draws cost no more COCOeval runs. Every arm sees the same image draws and the
same seed draws (paired), and the draws use a fixed seed, so the numbers are reproducible.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from synthgen.formats.coco import to_coco
from synthgen.labels import Dataset, categories_from_names
from synthgen.mix.assemble import Item

LEVEL = 0.95
DRAWS = 1000
BOOTSTRAP_SEED = 0
HELPS, HURTS, NO_EVIDENCE = "helps", "hurts", "no evidence"
RECALLS = np.linspace(0.0, 1.0, 101)  # COCOeval's recall thresholds
MAX_DETECTIONS = 100
CHUNK = 4_000_000  # draws x IoUs x detections per block, to bound memory


@dataclass
class Matches:
    """One run's detections of one class in score order (COCOeval's order), matched to the ground truth."""

    image: np.ndarray  # (D,) test image index of each detection
    score: np.ndarray  # (D,)
    hit: np.ndarray  # (T, D) matched and not ignored, per IoU threshold
    miss: np.ndarray  # (T, D) unmatched and not ignored
    truths: np.ndarray  # (I,) ground truths per image that are not ignored


def coco_matches(test: list[Item], classes: list[str], predictions: list[dict[str, Any]]) -> dict[str, Matches]:
    """Per class, the run's detections matched by COCOeval (bbox, all areas, 100 per image)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground = to_coco(Dataset(categories_from_names(classes), [replace(item.sample, id=None) for item in test]))  # ids 1..N
    ids = {c["name"]: c["id"] for c in ground["categories"]}
    results = [{"image_id": p["image"] + 1, "category_id": ids[p["class"]], "bbox": p["bbox"], "score": p["score"]} for p in predictions]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = ground
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results) if results else COCO(), "bbox")
        evaluation.evaluate()
    images, areas = len(test), len(evaluation.params.areaRng)
    thresholds = len(evaluation.params.iouThrs)
    found = {}
    for k, name in enumerate(classes):
        entries = [(i, evaluation.evalImgs[k * areas * images + i]) for i in range(images)]
        entries = [(i, e) for i, e in entries if e is not None]
        truths = np.zeros(images)
        for i, e in entries:
            truths[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        score = np.concatenate([np.asarray(e["dtScores"][:MAX_DETECTIONS], float) for _, e in entries] or [np.zeros(0)])
        image = np.concatenate([np.full(len(e["dtScores"][:MAX_DETECTIONS]), i) for i, e in entries] or [np.zeros(0, int)])
        matched = np.concatenate([np.asarray(e["dtMatches"])[:, :MAX_DETECTIONS] != 0 for _, e in entries] or [np.zeros((thresholds, 0), bool)], axis=1)
        ignored = np.concatenate([np.asarray(e["dtIgnore"])[:, :MAX_DETECTIONS] != 0 for _, e in entries] or [np.zeros((thresholds, 0), bool)], axis=1)
        order = np.argsort(-score, kind="mergesort")
        found[name] = Matches(image[order].astype(int), score[order], (matched & ~ignored)[:, order], (~matched & ~ignored)[:, order], truths)
    return found


def weighted_ap(matches: Matches, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AP, AP50) for each row of image weights (draws x images); NaN where a draw has no ground truth."""
    truths = weights @ matches.truths
    ap, ap50 = np.full(len(weights), np.nan), np.full(len(weights), np.nan)
    has_truth = truths > 0
    detections = len(matches.score)
    if detections == 0:
        ap[has_truth], ap50[has_truth] = 0.0, 0.0
        return ap, ap50
    rows = max(1, CHUNK // (detections * len(matches.hit)))
    for start_at in range(0, len(weights), rows):
        block = slice(start_at, start_at + rows)
        per_detection = weights[block][:, None, matches.image]  # draws x 1 x D
        tp = np.cumsum(per_detection * matches.hit, axis=2)
        fp = np.cumsum(per_detection * matches.miss, axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = tp / truths[block, None, None]
        precision = tp / (tp + fp + np.spacing(1))
        precision = np.maximum.accumulate(precision[..., ::-1], axis=2)[..., ::-1]  # the envelope
        curve = np.zeros(precision.shape[:2] + (len(RECALLS),))
        for r, level in enumerate(RECALLS):
            at = (recall < level).sum(axis=2)  # searchsorted(recall, level, "left"), row by row
            reached = at < detections
            curve[..., r] = np.where(reached, np.take_along_axis(precision, np.minimum(at, detections - 1)[..., None], axis=2)[..., 0], 0.0)
        ap[block] = curve.mean(axis=(1, 2))
        ap50[block] = curve[:, 0].mean(axis=1)
    ap[~has_truth], ap50[~has_truth] = np.nan, np.nan
    return ap, ap50


def image_weights(images: int, draws: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Row 0: every image once (the estimate); then `draws` bootstrap resamples as counts per image."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(images, np.full(images, 1 / images), size=draws) if images else np.zeros((draws, 0))
    return np.vstack([np.ones((1, images)), counts]).astype(float)


def seed_draws(seeds: int, draws: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """For each bootstrap draw, `seeds` seed indices drawn with replacement (shared by every arm)."""
    return np.random.default_rng([seed, 1]).integers(0, seeds, size=(draws, seeds))


def combine(per_seed: np.ndarray, chosen: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean over seeds of the estimates, draws of the seed-resampled mean); `per_seed` is seeds x (1 + draws)."""
    estimate = float(np.mean(per_seed[:, 0]))
    draws = per_seed[chosen, np.arange(1, per_seed.shape[1])[:, None]].mean(axis=1)
    return estimate, draws


def interval(draws: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """The percentile interval of the draws that are defined (None if none are)."""
    defined = draws[~np.isnan(draws)]
    if not len(defined):
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(defined, [tail, 100 - tail])
    return [float(low), float(high)]


def verdict(ci: list[float] | None) -> str:
    """"helps" when the interval of a delta lies above 0, "hurts" when below, else "no evidence"."""
    if ci is None:
        return NO_EVIDENCE
    if ci[0] > 0:
        return HELPS
    return HURTS if ci[1] < 0 else NO_EVIDENCE


def stat(estimate: float, draws: np.ndarray) -> dict[str, Any]:
    return {"mean": estimate, "ci": interval(draws)}


def measured_classes(test: list[Item], classes: list[str]) -> list[str]:
    """The classes the test set can measure (it holds at least one instance of them)."""
    present = {name for item in test for name in item.classes}
    return [name for name in classes if name in present]


def summarise(
    records: dict[str, list[dict[str, Any]]], test: list[Item], classes: list[str], setup: dict[str, Any], draws: int = DRAWS
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`results.json` (arms, deltas against real, setup) and, per arm, each test image's score
    (true minus false detections at IoU 0.5 and score 0.5, mean over seeds) for the report."""
    weights = image_weights(len(test), draws)
    chosen = seed_draws(len(next(iter(records.values()))), draws)
    measured = measured_classes(test, classes)
    arms, combined, per_image = {}, {}, {}
    for arm, runs in records.items():
        matches = [coco_matches(test, classes, run["predictions"]) for run in runs]
        per_image[arm] = np.mean([image_scores(m, len(test)) for m in matches], axis=0)
        summary: dict[str, Any] = {"classes": {}}
        totals = {"ap": [], "ap50": []}
        for name in measured:
            curves = [weighted_ap(m[name], weights) for m in matches]
            for key, column in (("ap", 0), ("ap50", 1)):
                estimate, draws_of = combine(np.array([c[column] for c in curves]), chosen)
                summary["classes"].setdefault(name, {})[key] = stat(estimate, draws_of)
                combined[arm, name, key] = (estimate, draws_of)
                totals[key].append((estimate, draws_of))
        summary["all"] = {key: _mean_over_classes(values) for key, values in totals.items()}
        arms[arm] = summary
    deltas = {
        arm: {name: _delta(combined[arm, name, "ap"], combined["real", name, "ap"]) for name in measured}
        for arm in records if arm != "real"
    }  # fmt: skip
    return {"arms": arms, "deltas": deltas, "setup": {**setup, "measured_classes": measured, "level": LEVEL,
            "bootstrap": {"draws": draws, "seed": BOOTSTRAP_SEED}}}, per_image  # fmt: skip


def _mean_over_classes(values: list[tuple[float, np.ndarray]]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "ci": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw without any ground truth stays NaN
        draws = np.nanmean(np.array([d for _, d in values]), axis=0)
    return stat(float(np.mean([e for e, _ in values])), draws)


def _delta(arm: tuple[float, np.ndarray], real: tuple[float, np.ndarray]) -> dict[str, Any]:
    difference = stat(arm[0] - real[0], arm[1] - real[1])
    return {"ap": difference, "verdict": verdict(difference["ci"])}


def image_scores(matches: dict[str, Matches], images: int, score: float = 0.5) -> np.ndarray:
    """Per test image: detections scoring >= `score` that match a ground truth at IoU 0.5, minus those that do not."""
    result = np.zeros(images)
    for m in matches.values():
        sure = m.score >= score
        np.add.at(result, m.image[sure], m.hit[0, sure].astype(float) - m.miss[0, sure])
    return result
