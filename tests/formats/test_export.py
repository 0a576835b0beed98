"""`synthgen export DATASET --to FORMAT -o OUT`: Datumaro's COCO layout and a Hugging Face imagefolder
that `datasets.load_dataset` reads as is (boxes, classes and masks per image), for a rendered dataset
and a mix output; bad input is one line and leaves nothing. (Datumaro itself reads the export in
test_readers_venv.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from reader_helpers import expected_objects, write_mix
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.formats.hf import NO_MASKS_NOTE


def export(*args):
    return CliRunner().invoke(app, ["export", *map(str, args)])


def coco_masks(dataset):
    """{file name: [mask as bool array, ...]} decoded by pycocotools from annotations.json."""
    coco = json.loads((dataset / "annotations.json").read_text())
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    masks = {name: [] for name in files.values()}
    for ann in coco["annotations"]:
        rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
        masks[files[ann["image_id"]]].append(mask_utils.decode(rle).astype(bool))
    return masks


def test_hf_export_loads_with_boxes_classes_and_masks(rendered_dataset, tmp_path):
    datasets = pytest.importorskip("datasets", reason="extra 'readers'")

    out = tmp_path / "hf"
    result = export(rendered_dataset, "--to", "hf", "-o", out)
    assert result.exit_code == 0, result.output
    expected = expected_objects(rendered_dataset)
    instances = sum(len(v) for v in expected.values())
    assert result.output == f"{out}: hf: train: 4 images, {instances} instances\n"
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"]
    train = loaded["train"]
    assert train.column_names == ["image", "image_id", "width", "height", "objects", "masks"]
    masks = coco_masks(rendered_dataset)
    read = {}
    for row in train:
        name = f"images/{row['image_id'] - 1:06d}.png"
        assert row["image"].size == (64, 48) and (row["width"], row["height"]) == (64, 48)
        objects = row["objects"]
        assert objects["category"] == [["mug", "cone"].index(n) for n in objects["category_name"]]
        assert objects["id"] == list(range(1, len(objects["bbox"]) + 1)) and set(objects["iscrowd"]) <= {0}
        read[name] = [[n, *box, area] for n, box, area in zip(objects["category_name"], objects["bbox"], objects["area"], strict=True)]
        assert len(row["masks"]) == len(masks[name])
        assert all(np.array_equal(np.asarray(got) > 0, want) for got, want in zip(row["masks"], masks[name], strict=True))
        assert np.array_equal(np.asarray(row["image"]), np.asarray(Image.open(rendered_dataset / name)))
    assert read == expected
    assert "- 0: mug\n- 1: cone\n" in (out / "README.md").read_text()


def test_hf_export_of_a_mix_output_has_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets", reason="extra 'readers'")

    mixed, _ = write_mix(tmp_path, "--val-fraction", "0.2", "--test-fraction", "0.2")
    out = tmp_path / "hf"
    result = export(mixed, "--to", "hf", "-o", out)
    assert result.exit_code == 0, result.output
    counts = {split: len(json.loads((mixed / split / "annotations.json").read_text())["images"]) for split in ("train", "val", "test")}
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert {name: len(split) for name, split in loaded.items()} == {"train": counts["train"], "validation": counts["val"], "test": counts["test"]}
    assert result.output.splitlines() == [f"{out}: hf: {split}: {counts[split]} images, {n} instances" for split, n in
                                          ((s, sum(len(v) for v in expected_objects(mixed / s).values())) for s in ("train", "val", "test"))]


def test_hf_export_without_masks_says_so(rendered_dataset, tmp_path):
    datasets = pytest.importorskip("datasets", reason="extra 'readers'")

    out = tmp_path / "hf"
    result = export(rendered_dataset / "yolo", "--to", "hf", "-o", out)  # YOLO boxes: no masks
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"{out}: {NO_MASKS_NOTE}"
    train = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    assert "masks" not in train.column_names and len(train) == 4


def test_datumaro_layout(rendered_dataset, tmp_path):
    out = tmp_path / "dm"
    result = export(rendered_dataset, "--to", "datumaro", "-o", out, "--link", "hardlink")
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "annotations/instances_train.json", *[f"images/train/{i:06d}.png" for i in range(4)]]
    exported = json.loads((out / "annotations" / "instances_train.json").read_text())
    original = json.loads((rendered_dataset / "annotations.json").read_text())
    assert [i["file_name"] for i in exported["images"]] == [i["file_name"].removeprefix("images/") for i in original["images"]]
    assert exported["annotations"] == original["annotations"] and exported["categories"] == original["categories"]
    for image in exported["images"]:
        assert (out / "images" / "train" / image["file_name"]).read_bytes() == (rendered_dataset / "images" / image["file_name"]).read_bytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--to", "tfrecord"], "error: --to: unknown format 'tfrecord'; known: datumaro, hf"),
        (["--to", "hf", "--link", "teleport"], "error: --link: must be one of copy, hardlink, symlink, got 'teleport'"),
    ],
)
def test_bad_options_are_one_line_and_leave_nothing(rendered_dataset, tmp_path, args, message):
    result = export(rendered_dataset, "-o", tmp_path / "out", *args)
    assert (result.exit_code, result.output) == (1, f"{message}\n")
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_are_one_line(rendered_dataset, tmp_path):
    (tmp_path / "out").mkdir()
    result = export(rendered_dataset, "--to", "hf", "-o", tmp_path / "out")
    assert (result.exit_code, result.output) == (1, f"error: {tmp_path / 'out'}: output folder already exists; choose another -o or remove it\n")
    result = export(tmp_path / "nothing", "--to", "datumaro", "-o", tmp_path / "dm")
    assert (result.exit_code, result.output) == (1, f"error: {tmp_path / 'nothing'}: no such file or folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_images_with_one_exported_name_are_refused(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("images/a.png", "a.png"):
        Image.new("RGB", (8, 6)).save(tmp_path / name)
    coco = {"images": [{"id": 1, "file_name": "images/a.png", "width": 8, "height": 6},
                       {"id": 2, "file_name": "a.png", "width": 8, "height": 6}],
            "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    (tmp_path / "labels.json").write_text(json.dumps(coco))
    result = export(tmp_path / "labels.json", "--to", "datumaro", "-o", tmp_path / "dm")
    assert (result.exit_code, result.output) == (1, f"error: {tmp_path / 'labels.json'}: two images would both be exported as 'a.png'\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "images", "labels.json"]
