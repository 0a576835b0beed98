"""The trust gate's scorers: planted misses are rejected, real objects kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthgen.labels import Instance, Provenance, Sample
from synthgen.render.trust import ContrastScorer, DetectorAgreementScorer, masked_crop, summarize

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def planted() -> dict[str, list[float]]:
    """Contrast scores of objects as rendered, and of the same objects erased (the region
    re-rendered without the object: exactly the background the model might have left there)."""
    pytest.importorskip("bpy")
    from synthgen.recipe import parse_recipe
    from synthgen.render.backends.blender import BlenderBackend
    from synthgen.render.sampling import sample

    recipe = parse_recipe(
        {
            "version": 1, "name": "planted", "seed": 11, "count": 1, "image": {"width": 96, "height": 72},
            "render": {"engine": "workbench", "samples": 1},
            "classes": [{"name": "cube", "primitive": "cube", "count": [1, 2]}, {"name": "cone", "primitive": "cone"}],
        },
        __import__("pathlib").Path("planted.yaml"),
    )
    backend, scorer = BlenderBackend(threads=2), ContrastScorer()
    scores: dict[str, list[float]] = {"kept": [], "missed": []}
    try:
        for index in range(12):
            scene = sample(recipe, index)
            full = backend.render(scene)
            labelled = [(o, full.instance_map == o.instance_id) for o in scene.objects]
            labelled = [(o, m) for o, m in labelled if m.sum() >= 30]
            pairs = [(o.category, m) for o, m in labelled]
            scores["kept"] += scorer.score(full.rgb, pairs)
            for k, (obj, mask) in enumerate(labelled):
                erased = backend.render(replace(scene, objects=tuple(o for o in scene.objects if o is not obj)))
                image = np.where(mask[..., None], erased.rgb, full.rgb)
                scores["missed"].append(scorer.score(image, pairs)[k])
    finally:
        backend.close()
    return scores


def test_contrast_gate_rejects_planted_misses_and_keeps_real_objects(planted):
    threshold = 0.5  # the recipe default
    assert len(planted["missed"]) >= 20
    rejected = np.mean(np.array(planted["missed"]) < threshold)
    false_rejects = np.mean(np.array(planted["kept"]) < threshold)
    assert rejected >= 0.95, planted["missed"]
    assert false_rejects <= 0.05, planted["kept"]


def test_clip_scorer_loads_a_local_folder_and_gives_class_probabilities(tiny_clip_folder):
    from synthgen.render.trust import ClipScorer

    scorer = ClipScorer(str(tiny_clip_folder), ["cube", "cone"])
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    first, second = np.zeros((48, 64), bool), np.zeros((48, 64), bool)
    first[5:20, 5:30], second[25:45, 30:60] = True, True
    scores = scorer.score(image, [("cube", first), ("cone", second), ("cube", second)])
    assert all(0.0 < s < 1.0 for s in scores)
    assert scores == scorer.score(image, [("cube", first), ("cone", second), ("cube", second)])
    assert scores[1] + scores[2] < 1.0  # two classes of one crop, out of classes + background
    assert scores[0] != scores[2]


def test_masked_crop_greys_everything_outside_the_mask():
    image = np.full((20, 20, 3), 200, np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[4:8, 6:14] = True
    crop = masked_crop(image, mask)
    assert crop.shape[0] == crop.shape[1] or 0 in (crop.shape[0] - 20, crop.shape[1] - 20)
    assert (crop == 200).all(axis=2).sum() == mask.sum()
    assert set(np.unique(crop)) == {128, 200}


class KnownDetector:
    """A Detector (the `synthgen.real.prelabel` protocol) that predicts a fixed list of instances."""

    def __init__(self, predictions: list[Instance]):
        self.predictions = predictions

    def predict(self, images):
        return [list(self.predictions) for _ in images]


def test_detector_agreement_is_the_best_same_class_iou():
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    half = Instance(category="cube", box=(15.0, 10.0, 10.0, 10.0), area=100.0, score=0.9)
    exact_other_class = Instance.from_mask("cone", mask, score=0.9)
    scorer = DetectorAgreementScorer(KnownDetector([half, exact_other_class]))
    image = np.zeros((40, 40, 3), np.uint8)
    assert scorer.score(image, [("cube", mask), ("cone", mask), ("ball", mask)]) == pytest.approx([50 / 150, 1.0, 0.0])


def test_summary_counts_scored_kept_dropped():
    kept = Instance(category="cube", box=(0, 0, 1, 1), area=1, score=0.9, attributes={"trust": "kept"})
    dropped = Instance(category="cube", box=(0, 0, 1, 1), area=1, score=0.1, iscrowd=True, attributes={"trust": "dropped"})
    samples = [Sample("a.png", 4, 4, [kept, dropped, kept], Provenance(source="diffusion"))]
    assert summarize(samples) == {"scored": 3, "kept": 2, "dropped": 1}
    assert summarize([Sample("b.png", 4, 4, [Instance("cube", (0, 0, 1, 1), 1)])]) is None
