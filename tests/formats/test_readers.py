"""The popular readers open a rendered dataset folder (coco, yolo, yolo-seg) through their documented
entry points, as written, and read exactly its labels: torchvision, supervision, Ultralytics.
(pycocotools' COCOeval scoring the labels against themselves at AP 1.0: tests/render/test_render.py;
FiftyOne and Datumaro, which need environments of their own: test_readers_venv.py.)"""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from reader_helpers import assert_boxes, expected_objects, moved_copy, write_mix
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.formats.yolo import NO_VAL_NOTE


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory):
    """Ultralytics, its settings file kept in tmp (it writes one when first imported). Importing it
    replaces `PIL.Image.open` process-wide (an unreadable image then raises ModuleNotFoundError for
    pi_heif), so PIL's own is put back after this module's tests."""
    from PIL import Image

    original_open = Image.open
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics-config")))
    yield pytest.importorskip("ultralytics", reason="extra 'readers'")
    Image.open = original_open


@pytest.fixture(scope="module")
def moved(rendered_dataset, tmp_path_factory):
    """The rendered dataset moved to another folder (readers may write caches into it)."""
    return moved_copy(rendered_dataset, tmp_path_factory.mktemp("moved") / "dataset")


def test_torchvision_coco_detection(rendered_dataset):
    pytest.importorskip("torchvision", reason="extra 'readers'")
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

    dataset = CocoDetection(str(rendered_dataset), str(rendered_dataset / "annotations.json"))
    expected = expected_objects(rendered_dataset)
    names = {c["id"]: c["name"] for c in dataset.coco.dataset["categories"]}
    read = {}
    for index in range(len(dataset)):
        image, target = dataset[index]
        assert image.size == (64, 48)
        read[dataset.coco.imgs[dataset.ids[index]]["file_name"]] = [[names[t["category_id"]], *t["bbox"], t["area"]] for t in target]
    assert read == expected
    wrapped = wrap_dataset_for_transforms_v2(dataset, target_keys=("boxes", "labels", "masks"))
    _, target = wrapped[0]
    first = expected[dataset.coco.imgs[dataset.ids[0]]["file_name"]]
    assert target["boxes"].tolist() == [[x, y, x + w, y + h] for _, x, y, w, h, _ in first]
    assert target["masks"].sum(dim=(1, 2)).tolist() == [area for *_, area in first]


def test_supervision_coco_and_yolo(rendered_dataset):
    sv = pytest.importorskip("supervision", reason="extra 'readers'")

    expected = expected_objects(rendered_dataset)
    coco = sv.DetectionDataset.from_coco(str(rendered_dataset), str(rendered_dataset / "annotations.json"), force_masks=True)
    assert coco.classes == ["mug", "cone"]
    read = {}
    for path, image, detections in coco:
        assert image.shape == (48, 64, 3)
        name = str(rendered_dataset.joinpath(path).relative_to(rendered_dataset))
        read[name] = [[coco.classes[c], x0, y0, x1 - x0, y1 - y0, float(m.sum())]
                      for c, (x0, y0, x1, y1), m in zip(detections.class_id, detections.xyxy.tolist(), detections.mask, strict=True)]
    assert read == expected
    for export, polygon in (("yolo", False), ("yolo-seg", True)):
        folder = rendered_dataset / export
        yolo = sv.DetectionDataset.from_yolo(str(folder / "images"), str(folder / "labels"), str(folder / "data.yaml"))
        assert yolo.classes == ["mug", "cone"]
        read = {f"images/{path.rsplit('/', 1)[1]}": [[yolo.classes[c], x0, y0, x1 - x0, y1 - y0]
                                                    for c, (x0, y0, x1, y1) in zip(d.class_id, d.xyxy.tolist(), strict=True)]
                for path, _, d in yolo}
        assert_boxes(read, expected, tolerance=1e-3, polygon=polygon)


@pytest.mark.parametrize("export, task", [("yolo", "detect"), ("yolo-seg", "segment")])
def test_ultralytics_loads_data_yaml_from_any_folder_after_a_move(ultralytics, moved, tmp_path, monkeypatch, export, task):
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    monkeypatch.chdir(tmp_path)  # neither the dataset folder nor its parent
    data = check_det_dataset(str(moved / export / "data.yaml"), autodownload=False)
    images = str((moved / export / "images").resolve())
    assert (data["train"], data["val"], data["names"], data["nc"]) == (images, images, {0: "mug", 1: "cone"}, 2)
    loaded = build_yolo_dataset(get_cfg(overrides={"task": task}), data["val"], 2, data, mode="val")
    read = {}
    for label in loaded.labels:
        h, w = label["shape"]
        boxes = [[data["names"][int(c)], (cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
                 for c, (cx, cy, bw, bh) in zip(label["cls"].ravel(), label["bboxes"].tolist(), strict=True)]
        read[f"images/{label['im_file'].rsplit('/', 1)[1]}"] = boxes
        assert len(label["segments"]) == (len(boxes) if task == "segment" else 0)
    assert_boxes(read, expected_objects(moved), tolerance=1e-3, polygon=task == "segment")
    item = loaded[0]
    assert tuple(item["img"].shape) == (3, 640, 640) and len(item["cls"]) == len(loaded.labels[0]["cls"])


def test_data_yaml_says_when_val_is_the_training_images(rendered_dataset):
    assert (rendered_dataset / "yolo" / "data.yaml").read_text() == (
        "# Paths are relative to this file's folder (no 'path:' key), so it loads from anywhere.\n"
        f"# {NO_VAL_NOTE}\n"
        "train: images\nval: images\nnames:\n  0: mug\n  1: cone\n"
    )


def test_mix_yolo_val_is_the_val_split_in_ultralytics(ultralytics, tmp_path, monkeypatch):
    from ultralytics.data.utils import check_det_dataset

    out, printed = write_mix(tmp_path, "--val-fraction", "0.2", "--test-fraction", "0.2", "--format", "yolo,yolo-seg")
    assert NO_VAL_NOTE not in printed
    moved = moved_copy(out, tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    for split in ("train", "val", "test"):
        for export in ("yolo", "yolo-seg"):
            text = (moved / split / export / "data.yaml").read_text()
            assert NO_VAL_NOTE not in text
            data = check_det_dataset(str(moved / split / export / "data.yaml"), autodownload=False)
            assert [data[k] for k in ("train", "val", "test")] == [str((moved / s / export / "images").resolve()) for s in ("train", "val", "test")]
    val_images = sorted(p.name for p in (moved / "val" / "yolo" / "images").iterdir())
    assert len(val_images) == 2 and val_images != sorted(p.name for p in (moved / "train" / "yolo" / "images").iterdir())


def test_mix_says_whether_there_is_a_val_split(tmp_path):
    from synthgen.formats.folder import yolo_notes

    assert yolo_notes(tmp_path, ("coco", "yolo"), ("train", "val")) == []
    out, printed = write_mix(tmp_path, "--val-fraction", "0", "--format", "yolo")
    assert printed.splitlines()[-1] == f"{out / 'train' / 'yolo' / 'data.yaml'}: {NO_VAL_NOTE}"
    assert yolo_notes(out / "train", ("coco", "yolo"), ("train",)) == [f"{out / 'train' / 'yolo' / 'data.yaml'}: {NO_VAL_NOTE}"]
    data = yaml.safe_load((out / "train" / "yolo" / "data.yaml").read_text())
    assert data == {"train": "../../train/yolo/images", "val": "../../train/yolo/images", "names": {0: "forklift", 1: "pallet"}}
    assert f"# {NO_VAL_NOTE}" in (out / "train" / "yolo" / "data.yaml").read_text()


def test_convert_says_when_there_is_no_val_split(rendered_dataset, tmp_path):
    result = CliRunner().invoke(app, ["convert", str(rendered_dataset), "-o", str(tmp_path / "c"), "--format", "yolo-seg"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"{tmp_path / 'c' / 'yolo-seg' / 'data.yaml'}: {NO_VAL_NOTE}"
    assert np.array_equal(sorted(p.name for p in (tmp_path / "c" / "yolo-seg" / "labels").iterdir()),
                          sorted(p.name for p in (rendered_dataset / "yolo-seg" / "labels").iterdir()))


def test_render_says_when_there_is_no_val_split(rendered_dataset, tmp_path):
    """`synthgen render` (here resuming a finished copy: nothing is rendered again) ends with the note."""
    copy = moved_copy(rendered_dataset, tmp_path / "copy")
    result = CliRunner().invoke(app, ["render", str(rendered_dataset.parent / "tiny.yaml"), "-o", str(copy)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [f"{copy / export / 'data.yaml'}: {NO_VAL_NOTE}" for export in ("yolo", "yolo-seg")]
