"""torchvision detectors: weights written by `synthgen train` or by torch.save load back by path."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from helpers import assert_valid_dataset, invoke, make_shapes_dataset
from PIL import Image
from safetensors.torch import load_file

from synthgen.real.prelabel import PrelabelError, make_detector
from synthgen.real.prelabel.folder import read_photo
from synthgen.real.prelabel.torchvision_models import COCO_LABELS
from synthgen.real.train import train

SMALL = {"box_batch_size_per_image": 32, "rpn_pre_nms_top_n_test": 200, "rpn_post_nms_top_n_test": 50}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return Path(make_shapes_dataset(tmp_path_factory.mktemp("synth"), 8, seed=3).root)


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    """Faster R-CNN (MobileNetV3) from scratch, two steps on the shapes."""
    out = tmp_path_factory.mktemp("models") / "det"
    train([shapes], out, arch="fasterrcnn_mobilenet_v3_large_fpn", epochs=1, image_size=64, options=SMALL, show_progress=False)
    return out


def test_train_writes_safetensors_and_the_config_prelabel_reads(trained, shapes):
    config = json.loads((trained / "config.json").read_text())
    assert {k: v for k, v in config.items() if k != "final_loss"} == {
        "arch": "fasterrcnn_mobilenet_v3_large_fpn", "classes": ["square", "disk"], "min_size": 64, "max_size": 64,
        "options": SMALL, "epochs": 1, "optimizer": "sgd", "lr": 0.01, "images": 8, "datasets": [str(shapes)],
    }  # fmt: skip
    assert config["final_loss"] > 0
    assert sorted(p.name for p in trained.iterdir()) == ["config.json", "model.safetensors"]


def test_trained_folder_loads_by_path_and_prelabels_a_valid_dataset(trained, shapes, tmp_path):
    detector = make_detector(None, weights=trained, threshold=0.0)
    saved = load_file(str(trained / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in detector.model.state_dict().items())
    out = tmp_path / "pre"
    run = invoke("prelabel", shapes / "images", "-o", out, "--weights", trained, "--threshold", "0.0", "--batch-size", "3")
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    assert dataset.class_names == ["square", "disk"] and len(dataset.samples) == 8
    provenance = dataset.samples[0].provenance
    digest = hashlib.sha256((trained / "model.safetensors").read_bytes()).hexdigest()
    assert provenance.model_ids == {"detector": "torchvision:fasterrcnn_mobilenet_v3_large_fpn", "weights_sha256": digest}
    batch = [read_photo(shapes / "images", f"{k:06d}.png") for k in range(3)]  # the CLI's first batch
    expected = [[(i.category, i.box, i.score) for i in instances] for instances in detector.predict(batch)]
    assert [[(i.category, i.box, i.score) for i in s.instances] for s in dataset.samples[:3]] == expected
    again = tmp_path / "again"
    invoke("prelabel", shapes / "images", "-o", again, "--weights", trained / "model.safetensors", "--threshold", "0.0",
           "--batch-size", "3")  # fmt: skip
    assert (again / "annotations.json").read_bytes() == (out / "annotations.json").read_bytes()


def test_steps_train_exactly_that_many_batches(trained, shapes, tmp_path):
    """8 images in batches of 4: 4 steps are the same training as 2 epochs, and 3 steps are not."""
    run = invoke("train", shapes, "-o", tmp_path / "steps4", "--weights", trained, "--steps", 4, "--seed", 1)
    assert run.exit_code == 0, run.output
    train([shapes], tmp_path / "epochs2", epochs=2, weights=trained, seed=1, show_progress=False)
    train([shapes], tmp_path / "steps3", steps=3, weights=trained, seed=1, show_progress=False)
    by_steps, by_epochs, fewer = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("steps4", "epochs2", "steps3"))
    assert by_steps.keys() == by_epochs.keys() and all(torch.equal(by_steps[k], by_epochs[k]) for k in by_steps)
    assert not all(torch.equal(by_steps[k], fewer[k]) for k in by_steps)
    config = json.loads((tmp_path / "steps4" / "config.json").read_text())
    assert (config["epochs"], config["steps"], config["images"]) == (2, 4, 8)
    assert json.loads((tmp_path / "steps3" / "config.json").read_text())["epochs"] == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--epochs", "0", "--epochs: expected a whole number >= 1 (got 0)"),
        ("--steps", "0", "--steps: expected a whole number >= 1 (got 0)"),
        ("--batch-size", "0", "--batch-size: expected a whole number >= 1 (got 0)"),
        ("--image-size", "-64", "--image-size: expected a whole number >= 1 (got -64)"),
        ("--lr", "nan", "--lr: expected a finite number > 0 (got nan)"),
        ("--lr", "-inf", "--lr: expected a finite number > 0 (got -inf)"),
        ("--lr", "0", "--lr: expected a finite number > 0 (got 0.0)"),
    ],
)
def test_bad_training_numbers_fail_in_one_line(shapes, tmp_path, option, value, message):
    run = invoke("train", shapes, "-o", tmp_path / "model", option, value)
    assert (run.exit_code, run.output) == (1, f"error: {message}\n")
    assert not (tmp_path / "model").exists()


def test_batchnorm_statistics_cover_the_mix_of_folders(tmp_path):
    """Dark synthetic images then bright real ones, as `train synth real` lists them: the recalibrated
    variance must be the training mix's, not the smaller one of batches holding a single folder."""
    from synthgen.real.prelabel.torchvision_models import build_model
    from synthgen.real.train import gather, recalibrate_batchnorm

    make_shapes_dataset(tmp_path / "dark", 8, seed=1, noise=30)
    make_shapes_dataset(tmp_path / "bright", 8, seed=2, noise=30)
    for photo in (tmp_path / "bright" / "images").iterdir():  # the negative: near-white noise
        Image.fromarray(255 - np.asarray(Image.open(photo))).save(photo)
    items, classes = gather([tmp_path / "dark", tmp_path / "bright"], None)
    torch.manual_seed(0)
    model = build_model("fasterrcnn_mobilenet_v3_large_fpn", 3, 64, 64)
    first = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    first.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach()))
    recalibrate_batchnorm(model, items, classes, 4, 0, "cpu")
    mix = torch.cat(seen).transpose(0, 1).flatten(1)  # channels x every pixel of all 16 images
    assert len(seen) == 4 and sum(len(batch) for batch in seen) == 16
    ratio = (first.running_var / mix.var(dim=1)).median().item()
    assert 0.9 < ratio < 1.1, ratio  # batches in folder order gave 0.22


def test_torch_file_with_coco_labels_picks_classes_by_name(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.get_model(
        "fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, weights_backbone=None, num_classes=91
    )
    weights = tmp_path / "coco.pth"
    torch.save(model.state_dict(), weights)
    detector = make_detector("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", weights=weights,
                             classes={"person": ["person"], "car": ["car"]}, threshold=0.0)  # fmt: skip
    assert detector.labels == COCO_LABELS and detector.classes == ["person", "car"]
    Image.new("RGB", (40, 30), (90, 120, 30)).save(tmp_path / "p.png")
    instances = detector.predict([read_photo(tmp_path, "p.png")])[0]
    assert {i.category for i in instances} <= {"person", "car"}
    with pytest.raises(PrelabelError, match=r"--classes: forklift not among the model's classes \(person, bicycle"):
        make_detector("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", weights=weights, classes={"forklift": []})
    with pytest.raises(PrelabelError, match="coco.pth: weights do not fit ssdlite320_mobilenet_v3_large with 0 classes"):
        make_detector("torchvision:ssdlite320_mobilenet_v3_large", weights=weights)


class NotWeights:
    """Pickled code, which `weights_only=True` must refuse to load."""


def test_unsafe_or_missing_weights_and_unknown_detectors_fail(tmp_path, trained):
    pickled = tmp_path / "unsafe.pt"
    torch.save({"model": NotWeights()}, pickled)
    with pytest.raises(PrelabelError, match="unsafe.pt: cannot read weights"):
        make_detector("torchvision:fasterrcnn_mobilenet_v3_large_fpn", weights=pickled)
    with pytest.raises(PrelabelError, match="--weights: .*missing.safetensors does not exist"):
        make_detector("torchvision:fcos_resnet50_fpn", weights=tmp_path / "missing.safetensors")
    with pytest.raises(PrelabelError, match="--detector: .* holds a fasterrcnn_mobilenet_v3_large_fpn, not a fcos_resnet50_fpn"):
        make_detector("torchvision:fcos_resnet50_fpn", weights=trained)
    with pytest.raises(PrelabelError, match="--detector: unknown detector 'yolov5'; use torchvision:<arch>, yolo, owlv2"):
        make_detector("yolov5", weights=trained)
    run = invoke("prelabel", tmp_path, "-o", tmp_path / "out", "--detector", "torchvision:fasterrcnn_resnet50_fpn")
    assert run.exit_code == 1 and run.output.startswith("error: --weights: a torchvision detector needs")


def test_mask_rcnn_trains_on_masks_and_keeps_predicted_masks(shapes, tmp_path):
    model = tmp_path / "maskrcnn"
    options = {**SMALL, "box_score_thresh": 0.0}  # an untrained model scores everything low
    train([shapes], model, arch="maskrcnn_resnet50_fpn", epochs=1, batch_size=8, image_size=64, options=options,
          show_progress=False)  # fmt: skip
    out = tmp_path / "pre"
    run = invoke("prelabel", shapes / "images", "-o", out, "--weights", model, "--threshold", "0.0")
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    instances = [i for s in dataset.samples for i in s.instances]
    assert sum(i.mask is not None for i in instances) > len(instances) / 2  # the rest predicted an empty mask
    assert sorted(p.name for p in (out / "semantic").iterdir()) == [f"{k:06d}.png" for k in range(8)]
