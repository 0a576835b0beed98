"""The active-learning loop, simulated on shapes; training input errors."""

import json
import re

import pytest
from helpers import make_shapes_dataset
from typer.testing import CliRunner

from synthgen.cli import app as synthgen_app
from synthgen.formats.folder import load_dataset
from synthgen.formats.labelstudio import region
from synthgen.real.evaluate import evaluate_datasets
from synthgen.real.prelabel import make_detector
from synthgen.real.prelabel.folder import prelabel_folder
from synthgen.real.review import export_review, import_review
from synthgen.real.train import TrainError, gather, train

SMALL = {"box_batch_size_per_image": 32, "rpn_batch_size_per_image": 64, "rpn_pre_nms_top_n_test": 200,
         "rpn_post_nms_top_n_test": 50, "box_detections_per_img": 20}  # fmt: skip
SETTINGS = dict(arch="fasterrcnn_mobilenet_v3_large_fpn", lr=0.02, image_size=96, options=SMALL, show_progress=False)


def ap_on(model, held, tmp_path, name):
    predicted = tmp_path / name
    prelabel_folder(held / "images", predicted, make_detector(None, weights=model, threshold=0.05), show_progress=False)
    return evaluate_datasets(load_dataset(held), load_dataset(predicted)).ap50


def reviewer_answers(tasks, truth):
    """A Label Studio export: each task answered with the ground truth of its image."""
    by_name = {s.file_name: s for s in truth.samples}
    export = []
    for number, task in enumerate(tasks, start=1):
        sample = by_name[task["data"]["synthgen_file_name"]]
        result = [region(i, sample.width, sample.height, f"r{k}") for k, i in enumerate(sample.instances)]
        export.append({"id": number, "data": task["data"], "annotations": [{"id": number, "result": result}]})
    return export


def test_reviewed_corrections_make_the_next_detector_better(tmp_path):
    synth = make_shapes_dataset(tmp_path / "synth", 16, seed=0, classes=["square"]).root
    real = make_shapes_dataset(tmp_path / "real_truth", 12, seed=1, classes=["square"])
    held = tmp_path / "held"
    make_shapes_dataset(held, 8, seed=2, classes=["square"])

    train([synth], tmp_path / "det1", epochs=4, **SETTINGS)
    detector = make_detector(None, weights=tmp_path / "det1", threshold=0.05)
    prelabel_folder(tmp_path / "real_truth" / "images", tmp_path / "pre", detector, show_progress=False)
    queue = export_review(tmp_path / "pre", 8, "labelstudio", tmp_path / "tasks.json")
    assert len(queue) == 8
    export = tmp_path / "export.json"
    export.write_text(json.dumps(reviewer_answers(json.loads((tmp_path / "tasks.json").read_text()), real)))
    assert import_review(tmp_path / "pre", export, tmp_path / "reviewed") == (8, 0)
    train([synth, tmp_path / "reviewed"], tmp_path / "det2", epochs=4, weights=tmp_path / "det1", **SETTINGS)
    config = json.loads((tmp_path / "det2" / "config.json").read_text())
    assert config["images"] == 16 + 8  # the 4 unreviewed pre-labels are not learnt from

    first, second = ap_on(tmp_path / "det1", held, tmp_path, "p1"), ap_on(tmp_path / "det2", held, tmp_path, "p2")
    print(f"AP50 on the held-out set: {first:.4f} -> {second:.4f}")
    assert second > first


def test_classes_merge_by_name_and_bad_input_fails(tmp_path):
    squares = make_shapes_dataset(tmp_path / "a", 2, seed=0, classes=["square"]).root
    disks = make_shapes_dataset(tmp_path / "b", 2, seed=1, classes=["disk"]).root
    app = synthgen_app
    run = CliRunner().invoke(app, ["train", str(squares), str(disks), "-o", str(tmp_path / "m"), "--epochs", "2",
                                   "--image-size", "64", "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn"])  # fmt: skip
    assert run.exit_code == 0, run.output
    # not on a terminal: one line per epoch on stderr (a terminal gets a bar with epoch, loss and ETA)
    epochs = run.stderr.splitlines()
    assert [re.fullmatch(r"epoch (\d)/2: loss \d+\.\d{4}, \d+\.\d s, ETA \d:\d\d:\d\d", line)[1] for line in epochs] == ["1", "2"]
    assert epochs[1].endswith("ETA 0:00:00") and f"final loss {epochs[1].split()[3][:-1]}" in run.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["classes"] == ["square", "disk"]
    with pytest.raises(TrainError, match="000000.png: class 'disk' is not in the model"):
        gather([disks], ["square"])  # what a model started from (--weights) knows
    with pytest.raises(TrainError, match="no images to train on"):
        gather([], None)
    run = CliRunner().invoke(app, ["train", str(tmp_path / "a"), "-o", str(tmp_path / "m3"), "--arch", "resnet18"])
    assert run.exit_code == 1 and "--arch: unknown torchvision detector 'resnet18'" in run.output
    (tmp_path / "a" / "annotations.json").write_text("{")
    run = CliRunner().invoke(app, ["train", str(tmp_path / "a"), "-o", str(tmp_path / "m4")])
    assert run.exit_code == 1 and "annotations.json: cannot read COCO JSON" in run.output
    assert not (tmp_path / "m3").exists() and not (tmp_path / "m4").exists()
