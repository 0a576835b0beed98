"""Which images a person sees: scoring strategies, diversity, and their combinations.

Scores (each in [0, 1], higher = more worth a person's time; an image takes its worst instance):
- `uncertainty`: `1 - |2s - 1|` of each prediction's score `s` (1 at a coin flip, 0 when sure).
- `entropy`: the normalised entropy of a prediction's class scores (`attributes["class_scores"]`,
  a {class: probability} dict, where the detector gives them; the rest of the mass is background),
  else the binary entropy of its score.
- `margin`: `1 - (p1 - p2)` over the two most likely classes (background included); with one score
  it equals `uncertainty`.
- `disagreement`: against a second detector's pre-labels of the same photos (`compare`): boxes are
  matched greedily by IoU within a class, and the image scores `1 - 2 * sum(IoU of matches) / (n1 + n2)`
  (1 when nothing matches, 0 when both agree exactly or both see nothing).
Several scores (`uncertainty+entropy`) are averaged. `diversity` is k-center greedy on image
embeddings (the detector's backbone, or a deterministic thumbnail): alone it covers all unreviewed
images; with scores it picks among the `POOL` x budget best-scoring ones. Images already reviewed are
never sent and count as covered. Every selected image carries its reason (strategy, rank, scores).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import InputError
from synthgen.fileio import inside
from synthgen.labels import Dataset, Instance, Sample

STRATEGIES = ("uncertainty", "entropy", "margin", "disagreement", "diversity")
POOL = 3
Embedder = Callable[[list[Sample]], np.ndarray]


class SelectionError(InputError):
    """A strategy that cannot run on the given inputs."""


@dataclass
class Selected:
    """One image for review and why: `reason` is stored with the task and the reviewed sample."""

    sample: Sample
    score: float
    reason: dict[str, Any]


def parse_strategy(text: str) -> list[str]:
    """`uncertainty+diversity` -> ['uncertainty', 'diversity'] (known names only, no repeats)."""
    names = [part.strip() for part in text.split("+")]
    for name in names:
        if name not in STRATEGIES:
            raise SelectionError(f"--strategy: unknown strategy {name!r}; use {', '.join(STRATEGIES)} joined by '+'")
    if len(set(names)) != len(names):
        raise SelectionError(f"--strategy: {text!r} names a strategy twice")
    return names


def instance_uncertainty(instance: Instance) -> float:
    """1 at score 0.5, 0 at scores 0 and 1; labels without a score (a person's) are certain."""
    return 0.0 if instance.score is None else 1.0 - abs(2.0 * instance.score - 1.0)


def class_probabilities(instance: Instance) -> list[float]:
    """The prediction's class distribution, background last: its class scores, else (s, 1 - s)."""
    scores = instance.attributes.get("class_scores")
    if isinstance(scores, dict) and scores:
        probabilities = [max(0.0, float(v)) for v in scores.values()]
    else:
        probabilities = [float(instance.score)]
    return [*probabilities, max(0.0, 1.0 - sum(probabilities))]


def instance_entropy(instance: Instance) -> float:
    if instance.score is None:
        return 0.0
    probabilities = [p for p in class_probabilities(instance) if p > 0]
    total = sum(probabilities)
    entropy = -sum(p / total * math.log(p / total) for p in probabilities)
    return entropy / math.log(max(2, len(class_probabilities(instance))))


def instance_margin(instance: Instance) -> float:
    if instance.score is None:
        return 0.0
    first, second = sorted(class_probabilities(instance), reverse=True)[:2]
    return 1.0 - (first - second)


def image_uncertainty(sample: Sample) -> float:
    return max((instance_uncertainty(i) for i in sample.instances), default=0.0)


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union > 0 else 0.0


def match_boxes(mine: list[Instance], theirs: list[Instance], same_class: bool = True) -> list[tuple[float, int, int]]:
    """Greedy one-to-one matching by IoU (best pairs first, IoU > 0): (IoU, index in mine, in theirs)."""
    pairs = sorted(
        ((box_iou(a.box, b.box), i, j) for i, a in enumerate(mine) for j, b in enumerate(theirs)
         if not same_class or a.category == b.category),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )  # fmt: skip
    used_mine, used_theirs, matches = set(), set(), []
    for iou, i, j in pairs:
        if iou > 0 and i not in used_mine and j not in used_theirs:
            used_mine.add(i), used_theirs.add(j)
            matches.append((iou, i, j))
    return matches


def disagreement(mine: list[Instance], theirs: list[Instance]) -> tuple[float, dict[str, int]]:
    """(score, counts) of two detectors' boxes on one image, matched within each class."""
    matches = match_boxes(mine, theirs)
    count = len(mine) + len(theirs)
    score = 1.0 - 2.0 * sum(iou for iou, _, _ in matches) / count if count else 0.0
    return score, {"unmatched": count - 2 * len(matches), "low_iou": sum(iou < 0.5 for iou, _, _ in matches)}


SCORERS: dict[str, Callable[[Instance], float]] = {
    "uncertainty": instance_uncertainty,
    "entropy": instance_entropy,
    "margin": instance_margin,
}


def image_scores(sample: Sample, names: list[str], compare: dict[str, Sample] | None) -> dict[str, Any]:
    """Each score strategy's value for `sample` (and the disagreement counts)."""
    scores: dict[str, Any] = {}
    for name in names:
        if name in SCORERS:
            scores[name] = round(max((SCORERS[name](i) for i in sample.instances), default=0.0), 6)
        elif name == "disagreement":
            other = compare.get(photo_key(sample)) if compare is not None else None
            value, counts = disagreement(sample.instances, other.instances if other else [])
            scores[name] = round(value, 6)
            scores |= counts
    return scores


def select(
    dataset: Dataset,
    budget: int,
    strategy: str = "uncertainty",
    compare: Dataset | None = None,
    embed: Embedder | None = None,
    is_reviewed: Callable[[Sample], bool] = lambda s: False,
) -> list[Selected]:
    """The `budget` unreviewed samples most worth a person's time, in the order they were chosen."""
    names = parse_strategy(strategy)
    if "disagreement" in names and compare is None:
        raise SelectionError("--strategy: disagreement needs a second detector's dataset (--compare)")
    by_name = _by_photo(dataset, compare) if compare is not None else None
    scoring = [n for n in names if n != "diversity"]
    pending = [s for s in dataset.samples if not is_reviewed(s)]
    scored = [(s, image_scores(s, scoring, by_name)) for s in pending]
    scored.sort(key=lambda item: _priority(item[0], item[1], scoring))
    if "diversity" not in names:
        chosen = [(sample, scores, {}) for sample, scores in scored[:budget]]
    else:
        pool = scored[: POOL * budget] if scoring else scored
        covered = [s for s in dataset.samples if is_reviewed(s)]
        chosen = _k_center(pool, covered, budget, embed or thumbnail_embedder(Path(dataset.root or ".")))
    return [
        Selected(sample, _combined(scores, scoring), {"strategy": strategy, "rank": rank, "scores": scores} | extra)
        for rank, (sample, scores, extra) in enumerate(chosen, start=1)
    ]


def _combined(scores: dict[str, Any], scoring: list[str]) -> float:
    return round(sum(scores[n] for n in scoring) / len(scoring), 6) if scoring else 0.0


def _priority(sample: Sample, scores: dict[str, Any], scoring: list[str]) -> tuple[float, int, str]:
    """Best combined score first; ties to more doubtful boxes (uncertainty above 0.5), then file order."""
    doubtful = sum(instance_uncertainty(i) > 0.5 for i in sample.instances)
    return (-_combined(scores, scoring), -doubtful, sample.file_name)


def photo_key(sample: Sample) -> str:
    """What names the photo behind a sample: its path where it was pre-labelled from, else its file name."""
    return sample.provenance.origin or sample.file_name


def _by_photo(dataset: Dataset, compare: Dataset) -> dict[str, Sample]:
    """The second detector's samples by photo; it must share at least one photo with `dataset`."""
    found = {photo_key(s): s for s in compare.samples}
    if not any(photo_key(s) in found for s in dataset.samples):
        raise SelectionError(f"--compare: {compare.root} shares no photo with {dataset.root}")
    return found


def _k_center(
    pool: list[tuple[Sample, dict[str, Any]]], covered: list[Sample], budget: int, embed: Embedder
) -> list[tuple[Sample, dict[str, Any], dict[str, Any]]]:
    """k-center greedy: repeatedly take the pool image farthest from everything covered so far (the
    first one, without any covered image, is the pool's best)."""
    if not pool:
        return []
    vectors = embed([s for s, _ in pool] + covered)
    points, known = vectors[: len(pool)], vectors[len(pool) :]
    nearest = np.full(len(pool), np.inf)
    for center in known:
        nearest = np.minimum(nearest, np.linalg.norm(points - center, axis=1))
    chosen = []
    for _ in range(min(budget, len(pool))):
        pick = int(np.argmax(nearest)) if np.isfinite(nearest).any() else 0
        distance = None if not np.isfinite(nearest[pick]) else round(float(nearest[pick]), 6)
        chosen.append((pool[pick][0], pool[pick][1], {"distance": distance}))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
        nearest[pick] = -1.0
    return chosen


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to length 1 (a flat row stays zero)."""
    vectors = vectors - vectors.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _open_image(root: Path, sample: Sample):
    from PIL import Image

    path = inside(root, sample.file_name, f"{root}: images[].file_name")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as error:
        raise SelectionError(f"{path}: cannot read image for --strategy diversity: {error}") from None


def thumbnail_embedder(root: Path) -> Embedder:
    """A cheap deterministic embedding: each image shrunk to 8x8 RGB (box filter), values in [0, 1].
    Not scaled to unit length: that would blow a featureless photo's faint noise up into a direction
    as far from everything as a real scene, and k-center would send every blank frame first."""
    from PIL import Image

    def embed(samples: list[Sample]) -> np.ndarray:
        rows = [np.asarray(_open_image(root, s).resize((8, 8), Image.Resampling.BOX), dtype=np.float64).ravel() for s in samples]
        return np.array(rows).reshape(len(samples), -1) / 255.0

    return embed


def backbone_embedder(root: Path, weights: Path, device: str | None = None) -> Embedder:
    """The detector's own view: its backbone's feature maps (every FPN level), averaged over space,
    for a `synthgen train` folder (or a weights file with its config.json)."""
    import torch
    from torchvision.transforms.functional import pil_to_tensor

    from synthgen.real.prelabel.base import pick_device
    from synthgen.real.prelabel.torchvision_models import load_detection_model

    model, _, _ = load_detection_model(None, Path(weights), [])
    where = pick_device(device)
    model = model.to(where).eval()

    @torch.inference_mode()
    def embed(samples: list[Sample]) -> np.ndarray:
        rows = []
        for sample in samples:
            tensor = pil_to_tensor(_open_image(root, sample)).to(where, torch.float32) / 255
            images, _ = model.transform([tensor])
            features = model.backbone(images.tensors)
            maps = features.values() if isinstance(features, dict) else [features]
            rows.append(torch.cat([f.mean(dim=(2, 3)).flatten() for f in maps]).cpu().double().numpy())
        return _unit_rows(np.array(rows).reshape(len(samples), -1))

    return embed
