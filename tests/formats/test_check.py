"""`synthgen check` on hand-made broken datasets: each problem found, one line, non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.formats.check import check_dataset
from synthgen.labels import encode_mask


def good_coco(folder: Path) -> dict:
    """A valid two-image dataset written to `folder`; returns its COCO dict."""
    (folder / "images").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (20, 10)).save(folder / "images" / name)
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:5, 3:9] = True
    return {
        "images": [
            {"id": 1, "file_name": "images/a.png", "width": 20, "height": 10},
            {"id": 2, "file_name": "images/b.png", "width": 20, "height": 10},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 2, 6, 3], "area": 18, "segmentation": encode_mask(mask), "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 20, 10], "area": 200, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }


def problems_after(tmp_path: Path, change) -> list[str]:
    data = good_coco(tmp_path)
    change(data)
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return check_dataset(tmp_path).problems


def test_good_dataset_passes(tmp_path):
    report = problems_after(tmp_path, lambda d: None)
    assert report == []


def set_(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(
    "change, expected",
    [
        (set_(("annotations", 1, "id"), 1), "annotations: id 1 used more than once"),
        (set_(("images", 1, "id"), 1), "images: id 1 used more than once"),
        (set_(("categories", 1, "id"), 1), "categories: id 1 used more than once"),
        (set_(("annotations", 0, "category_id"), 7), "annotations[0].category_id: 7 is not a defined category"),
        (set_(("annotations", 0, "image_id"), 9), "annotations[0].image_id: 9 is not a valid image"),
        (set_(("annotations", 1, "bbox"), [15, 0, 10, 5]), "annotations[1].bbox: [15, 0, 10, 5] leaves the 20x10 image"),
        (set_(("annotations", 1, "bbox"), [-1, 0, 5, 5]), "annotations[1].bbox: [-1, 0, 5, 5] leaves the 20x10 image"),
        (set_(("annotations", 1, "bbox"), [1, 1, 0, 5]), "annotations[1].bbox: width and height must be positive"),
        (set_(("annotations", 1, "bbox"), [1, 1, 5]), "annotations[1].bbox: expected [x, y, w, h] numbers"),
        (set_(("images", 0, "width"), 30), "images[0]: file images/a.png is 20x10, annotation says 30x10"),
        (set_(("images", 0, "file_name"), "images/missing.png"), "images[0].file_name: no such file: images/missing.png"),
        (set_(("images", 0, "file_name"), "../outside.png"), "images[0].file_name: '../outside.png' leaves the dataset folder"),
        (set_(("images", 0, "file_name"), "/etc/passwd"), "images[0].file_name: '/etc/passwd' leaves the dataset folder"),
        (set_(("annotations", 0, "area"), 50), "annotations[0].area: 50 but the mask has 18 pixels"),
        (set_(("annotations", 0, "segmentation"), {"size": [5, 5], "counts": "abc"}), "annotations[0].segmentation.size: expected the image's [height, width] [10, 20] (got [5, 5])"),
        (set_(("annotations", 0, "segmentation"), {"size": [10, 20], "counts": "1111"}), "annotations[0].segmentation.counts: expected runs covering the image's 200 pixels"),
        (set_(("categories", 0, "name"), ""), "categories[0]: needs an integer 'id' and a non-empty 'name' (got {'id': 1, 'name': ''})"),
        (set_(("images", 1), {"id": 2, "file_name": "images/b.png"}), "images[1]: needs 'id', 'file_name', 'width' and 'height' (got {'id': 2, 'file_name': 'images/b.png'})"),
        (set_(("annotations", 1), {"id": 2, "image_id": 2, "category_id": 2}), "annotations[1]: needs 'id', 'image_id', 'category_id' and 'bbox' (got {'id': 2, 'image_id': 2, 'category_id': 2})"),
    ],
)
def test_each_problem_is_reported(tmp_path, change, expected):
    problems = problems_after(tmp_path, change)
    assert any(p.startswith(f"{tmp_path / 'annotations.json'}: {expected}") for p in problems), problems


def test_unreadable_image_and_not_coco(tmp_path):
    problems = problems_after(tmp_path, lambda d: (tmp_path / "images" / "a.png").write_bytes(b"not an image"))
    assert any("images[0].file_name: unreadable image images/a.png" in p for p in problems)
    (tmp_path / "annotations.json").write_text(json.dumps({"images": {}}))
    assert check_dataset(tmp_path).problems == [f"{tmp_path / 'annotations.json'}: expected lists 'images', 'annotations' and 'categories'"]


def test_cli_check_exit_codes(tmp_path):
    runner = CliRunner()
    (tmp_path / "annotations.json").write_text(json.dumps(good_coco(tmp_path)))
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 0 and "ok: 2 images, 2 annotations, 2 categories" in result.output
    data = good_coco(tmp_path / "broken")
    data["annotations"][1]["bbox"] = [15, 0, 10, 5]
    data["annotations"][0]["id"] = 2
    (tmp_path / "broken" / "annotations.json").write_text(json.dumps(data))
    result = runner.invoke(app, ["check", str(tmp_path / "broken")])
    assert result.exit_code == 1
    assert result.output.count("error:") == 2


def test_rle_runs_inverts_pycocotools():
    from synthgen.formats.fields import rle_runs

    mask = np.zeros((7, 9), dtype=bool)
    mask[1:6, 2:4] = True
    mask[3, 8] = True
    runs = rle_runs(encode_mask(mask)["counts"])
    assert sum(runs) == 63
    flat = mask.flatten(order="F")
    assert runs[0] == np.argmax(flat) and sum(runs[1::2]) == mask.sum()


def bare_names(data: dict) -> dict:
    """The COCO layout most datasets have: `file_name` without the images/ folder."""
    for image in data["images"]:
        image["file_name"] = image["file_name"].removeprefix("images/")
    return data


def test_images_found_in_the_images_subfolder(tmp_path):
    (tmp_path / "annotations.json").write_text(json.dumps(bare_names(good_coco(tmp_path))))
    report = check_dataset(tmp_path)
    assert (report.problems, report.image_root) == ([], tmp_path / "images")
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, f"{tmp_path}: ok: 2 images, 2 annotations, 2 categories (images under {tmp_path / 'images'})\n")


def test_annotation_file_elsewhere_and_the_coco_file_itself(tmp_path):
    data = bare_names(good_coco(tmp_path))
    (tmp_path / "annotations").mkdir()
    labels = tmp_path / "annotations" / "instances_default.json"  # CVAT's export layout
    labels.write_text(json.dumps(data))
    assert check_dataset(tmp_path, labels).image_root == tmp_path / "images"
    beside = tmp_path / "images" / "labels.json"  # Roboflow's: the file among the images
    beside.write_text(json.dumps(data))
    report = check_dataset(beside)
    assert (report.problems, report.image_root) == ([], tmp_path / "images")
    result = CliRunner().invoke(app, ["check", str(beside)])
    assert result.exit_code == 0 and result.output.startswith(f"{beside}: ok: 2 images"), result.output


def test_images_option(tmp_path):
    data = bare_names(good_coco(tmp_path / "photos"))
    (tmp_path / "labels.json").write_text(json.dumps(data))
    report = check_dataset(tmp_path / "labels.json", images=tmp_path / "photos" / "images")
    assert (report.problems, report.image_root) == ([], tmp_path / "photos" / "images")
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(tmp_path / "labels.json"), "--images", str(tmp_path / "photos" / "images")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["check", str(tmp_path / "labels.json"), "--images", str(tmp_path / "nowhere")])
    assert (result.exit_code, result.output) == (1, f"error: --images: not a folder: {str(tmp_path / 'nowhere')!r}\n")


def test_no_image_anywhere_says_where_it_looked(tmp_path):
    (tmp_path / "labels.json").write_text(json.dumps(bare_names(good_coco(tmp_path / "photos"))))
    problems = check_dataset(tmp_path / "labels.json").problems
    assert problems[0] == (f"{tmp_path / 'labels.json'}: images: none of the 2 files named is under {tmp_path}, "
                           f"{tmp_path / 'images'}; pass --images DIR if they are elsewhere")
    assert problems[1:] == [f"{tmp_path / 'labels.json'}: images[{i}].file_name: no such file: {n}.png" for i, n in enumerate("ab")]


def coco_ap(path: Path) -> float:
    """pycocotools' box AP of a COCO file's labels scored against themselves."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        detections = truth.loadRes([{**a, "score": 1.0} for a in truth.dataset["annotations"]])
        evaluation = COCOeval(truth, detections, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def test_annotation_id_0_is_flagged_because_cocoeval_misscores_it(tmp_path):
    data = good_coco(tmp_path)
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    assert coco_ap(tmp_path / "annotations.json") == pytest.approx(1.0)
    for ann in data["annotations"]:
        ann["id"] -= 1  # ids from 0, as some exporters write them
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    assert check_dataset(tmp_path).problems == [
        f"{tmp_path / 'annotations.json'}: annotations[0].id: 0 is mis-scored by pycocotools' COCOeval (0 means 'unmatched'); number annotations from 1"
    ]
    assert coco_ap(tmp_path / "annotations.json") == pytest.approx(0.5)  # the cat (id 0) never matches: its class scores 0
