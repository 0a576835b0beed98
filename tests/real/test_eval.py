"""COCOeval through synthgen: known numbers on real data, perfect scores on ground truth, bad input."""

import json

import pytest
from typer.testing import CliRunner

from synthgen.cli import app as synthgen_app
from synthgen.errors import InputError
from synthgen.formats.coco import read_coco
from synthgen.real.evaluate import EvalError, evaluate, evaluate_datasets

# pycocotools on test_coco.json vs test_coco_det_AP_H_56.json (the data's README: AP 0.789, AP50 0.982)
REAL_AP, REAL_AP50 = 0.7891214003991492, 0.9823982398239822


def cli():
    app = synthgen_app
    return app


def test_real_detector_results_score_as_pycocotools_does(coco_person):
    result = evaluate(coco_person / "test_coco.json", coco_person / "test_coco_det_AP_H_56.json")
    assert result.ap == pytest.approx(REAL_AP, abs=1e-12)
    assert result.ap50 == pytest.approx(REAL_AP50, abs=1e-12)
    assert result.ap75 == pytest.approx(REAL_AP50, abs=1e-12)
    assert result.per_class == {"person": pytest.approx(REAL_AP, abs=1e-12)}
    assert (result.images, result.predictions) == (4, 118)


def test_ground_truth_against_itself_is_perfect_for_boxes_and_masks(coco_person):
    truth = read_coco(coco_person / "test_coco.json")
    for sample in truth.samples:
        for instance in sample.instances:
            instance.score = 1.0
    for iou_type in ("bbox", "segm"):
        result = evaluate_datasets(truth, truth, iou_type)
        assert (result.ap, result.ap50, result.per_class) == (1.0, 1.0, {"person": 1.0})


def test_eval_command_prints_summary_and_per_class(coco_person):
    run = CliRunner().invoke(cli(), ["eval", str(coco_person / "test_coco.json"), str(coco_person / "test_coco_det_AP_H_56.json")])
    assert run.exit_code == 0, run.output
    assert run.output.splitlines() == [
        "images 4  predictions 118",
        "AP 0.789  AP50 0.982  AP75 0.982",
        "  person: AP 0.789",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}, "[0].image_id: 999 is not in the ground truth"),
        ({"image_id": 785, "category_id": 7, "bbox": [0, 0, 5, 5], "score": 0.5}, "[0].category_id: 7 is not in the ground truth"),
        ({"image_id": 785, "category_id": 1, "bbox": [0, 0, 5], "score": 0.5}, "[0].bbox: expected [x, y, w, h]"),
        ({"image_id": 785, "category_id": 1, "bbox": [0, 0, 5, 5]}, "[0]: missing key 'score'"),
    ],
)
def test_bad_results_fail_naming_the_field(coco_person, tmp_path, entry, message):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([entry]))
    with pytest.raises(EvalError) as error:
        evaluate(coco_person / "test_coco.json", results)
    assert str(error.value).startswith(f"{results}: ") and message in str(error.value)
    run = CliRunner().invoke(cli(), ["eval", str(coco_person / "test_coco.json"), str(results)])
    assert run.exit_code == 1
    assert run.output.strip().count("\n") == 0 and message in run.output


def test_malformed_json_and_unknown_iou_type_fail(coco_person, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        evaluate(coco_person / "test_coco.json", broken)
    with pytest.raises(EvalError, match="--iou-type: 'keypoints'"):
        evaluate(coco_person / "test_coco.json", coco_person / "test_coco_det_AP_H_56.json", "keypoints")
