"""The experiment's statistics on numbers with known answers: AP as pycocotools computes it, interval
coverage on a simulated distribution, verdicts, and "no evidence" between two copies of one model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import COCO_PERSON

from synthgen.formats.coco import to_coco
from synthgen.formats.sources import open_dataset
from synthgen.labels import Dataset, categories_from_names
from synthgen.mix.mix import gather
from synthgen.real.evaluate import coco_eval
from synthgen.real.experiment_stats import (
    coco_matches,
    combine,
    image_weights,
    interval,
    seed_draws,
    summarise,
    verdict,
    weighted_ap,
)  # fmt: skip

# pycocotools (synthgen.real.evaluate.coco_eval) on the label model's COCO of test_coco.json vs the
# real detector's test_coco_det_AP_H_56.json: exactly what the raw file scores (tests/data/coco_person/README.md)
REAL_AP, REAL_AP50 = 0.7891214003991492, 0.9823982398239822


@pytest.fixture(scope="module")
def person():
    """The four real COCO photos as test items, and the real detector's results as run predictions."""
    items, classes = gather([open_dataset(str(COCO_PERSON / "test_coco.json"))], {}, None)
    index = {int(item.sample.id): position for position, item in enumerate(items)}
    results = json.loads((COCO_PERSON / "test_coco_det_AP_H_56.json").read_text())
    predictions = [{"image": index[r["image_id"]], "class": "person", "bbox": r["bbox"], "score": r["score"]} for r in results]
    return items, classes, predictions


def truth_as_predictions(items):
    return [{"image": i, "class": x.category, "bbox": list(x.box), "score": 1.0} for i, item in enumerate(items) for x in item.sample.instances]


def test_ap_with_every_image_once_is_cocoeval(person):
    items, classes, predictions = person
    assert classes == ["person"]
    results = json.loads((COCO_PERSON / "test_coco_det_AP_H_56.json").read_text())
    cocoeval = coco_eval(to_coco(Dataset(categories_from_names(classes), [item.sample for item in items])), results)
    assert (cocoeval.ap, cocoeval.ap50) == (REAL_AP, REAL_AP50)
    matches = coco_matches(items, classes, predictions)["person"]
    assert len(matches.score) == 118 and list(matches.truths) == [1, 3, 5, 5]
    ap, ap50 = weighted_ap(matches, np.ones((1, 4)))
    assert ap[0] == pytest.approx(REAL_AP, abs=1e-12) and ap50[0] == pytest.approx(REAL_AP50, abs=1e-12)
    # an image drawn twice counts twice: the same as its ground truth and detections listed twice
    doubled = coco_matches(items + items[3:], classes, predictions + [{**p, "image": 4} for p in predictions if p["image"] == 3])
    twice = weighted_ap(matches, np.array([[1.0, 1.0, 1.0, 2.0]]))[0][0]
    assert twice == pytest.approx(weighted_ap(doubled["person"], np.ones((1, 5)))[0][0], abs=0.01)
    perfect = coco_matches(items, classes, truth_as_predictions(items))["person"]
    assert [list(v) for v in weighted_ap(perfect, image_weights(4, 3))] == [[1.0] * 4, [1.0] * 4]


def test_bootstrap_weights_resample_the_images():
    weights = image_weights(5, 200, seed=3)
    assert weights.shape == (201, 5) and list(weights[0]) == [1.0] * 5
    assert (weights.sum(axis=1) == 5).all() and (weights == np.round(weights)).all()
    assert np.array_equal(weights, image_weights(5, 200, seed=3)) and not np.array_equal(weights, image_weights(5, 200, seed=4))


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    covered, trials = 0, 400
    for trial in range(trials):
        values = rng.exponential(1.0, size=40)  # true mean 1
        weights = image_weights(len(values), 1000, seed=trial)
        means = weights @ values / weights.sum(axis=1)
        low, high = interval(means[1:])
        assert low <= means[0] <= high
        covered += low <= 1.0 <= high
    assert 0.90 <= covered / trials <= 0.98, covered / trials


def test_verdict_needs_the_interval_to_exclude_zero():
    assert verdict([0.01, 0.3]) == "helps"
    assert verdict([-0.3, -0.001]) == "hurts"
    assert [verdict(ci) for ci in ([-0.1, 0.2], [0.0, 0.2], [-0.2, 0.0], [0.0, 0.0], None)] == ["no evidence"] * 5


def test_seeds_combine_by_resampling_them():
    per_seed = np.array([[0.5, 0.4, 0.6, 0.5], [0.7, 0.8, 0.6, 0.9]])  # seeds x (estimate + 3 draws)
    chosen = np.array([[0, 0], [1, 1], [0, 1]])
    estimate, draws = combine(per_seed, chosen)
    assert estimate == pytest.approx(0.6) and list(draws) == pytest.approx([0.4, 0.6, 0.7])
    assert seed_draws(3, 50).shape == (50, 3) and set(np.unique(seed_draws(3, 50))) == {0, 1, 2}
    assert interval(np.array([np.nan, np.nan])) is None


def test_same_model_is_no_evidence_and_perfect_or_empty_models_are_clear(person):
    items, classes, predictions = person
    records = {
        "real": [{"predictions": predictions}],
        "same": [{"predictions": predictions}],
        "perfect": [{"predictions": truth_as_predictions(items)}],
        "blind": [{"predictions": []}],
    }
    results, per_image = summarise(records, items, classes, {"note": "x"}, draws=300)
    assert list(results) == ["arms", "deltas", "setup"]
    assert list(results["arms"]) == ["real", "same", "perfect", "blind"]
    real = results["arms"]["real"]["classes"]["person"]
    assert real["ap"]["mean"] == pytest.approx(REAL_AP, abs=1e-12) and real["ap50"]["mean"] == pytest.approx(REAL_AP50, abs=1e-12)
    low, high = real["ap"]["ci"]
    assert low < REAL_AP < high and high - low > 0.02
    assert results["arms"]["real"]["all"] == real
    assert results["deltas"]["same"] == {"person": {"ap": {"mean": 0.0, "ci": [0.0, 0.0]}, "verdict": "no evidence"}}
    assert results["deltas"]["perfect"]["person"]["verdict"] == "helps"
    assert results["deltas"]["perfect"]["person"]["ap"]["mean"] == pytest.approx(1 - REAL_AP, abs=1e-12)
    assert results["deltas"]["blind"]["person"]["verdict"] == "hurts"
    assert results["setup"] == {"note": "x", "measured_classes": ["person"], "level": 0.95, "bootstrap": {"draws": 300, "seed": 0}}
    assert list(per_image) == list(records) and list(per_image["perfect"]) == [1, 3, 5, 5] and list(per_image["blind"]) == [0] * 4
