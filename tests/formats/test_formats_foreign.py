"""Foreign inputs through `synthgen.formats.sources`: COCO quirks, real COCO photos, BlenderProc, YOLO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mixing_helpers import REAL_COCO, rect_instance, write_dataset
from PIL import Image

from synthgen.errors import InputError
from synthgen.formats.folder import load_dataset
from synthgen.formats.sources import detect_format, open_dataset
from synthgen.formats.yolo import write_yolo
from synthgen.labels import Provenance, encode_mask
from synthgen.mix.assemble import kind_of
from synthgen.mix.mix import MixOptions, mix


def save_noise(path: Path, seed: int, size=(48, 64)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def quirky_coco(tmp_path: Path) -> Path:
    """Ids from 0, a `_background_` category, sub-folder file names, polygon / RLE / iscrowd, no info."""
    save_noise(tmp_path / "imgs/cam0/a.png", 1)
    save_noise(tmp_path / "imgs/cam1/b.png", 2)
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:20, 5:25] = True
    uncompressed = {"size": [48, 64], "counts": [5 * 48 + 10, 10, 38, 10, 48 * 64 - 6 * 48 - 20]}
    data = {
        "images": [{"id": 0, "file_name": "cam0/a.png", "width": 64, "height": 48},
                   {"id": 1, "file_name": "cam1/b.png", "width": 64, "height": 48}],
        "categories": [{"id": 0, "name": "_background_"}, {"id": 2, "name": "Cat"}, {"id": 1, "name": "dog"}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 0, "bbox": [0, 0, 64, 48], "area": 3072, "iscrowd": 0},
            {"id": 1, "image_id": 0, "category_id": 2, "segmentation": [[5, 10, 25, 10, 25, 20, 5, 20]], "bbox": [5, 10, 20, 10], "area": 200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": encode_mask(mask), "bbox": [5, 10, 20, 10], "area": 200, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 2, "segmentation": uncompressed, "bbox": [5, 10, 2, 10], "area": 20, "iscrowd": 1},
        ],
    }
    (tmp_path / "labels.json").write_text(json.dumps(data))
    return tmp_path


def test_quirky_coco_reads_by_name(quirky_coco):
    opened = open_dataset(f"{quirky_coco / 'labels.json'}::{quirky_coco / 'imgs'}")
    assert opened.format == "coco"
    assert opened.dataset.class_names == ["dog", "Cat"]
    assert [s.file_name for s in opened.dataset.samples] == ["cam0/a.png", "cam1/b.png"]
    first, second = opened.dataset.samples
    assert [(i.category, i.box, i.area) for i in first.instances] == [("Cat", (5.0, 10.0, 20.0, 10.0), 200.0)]
    assert [(i.category, i.box, i.area, i.iscrowd) for i in second.instances] == [
        ("dog", (5.0, 10.0, 20.0, 10.0), 200.0, False), ("Cat", (5.0, 10.0, 2.0, 10.0), 20.0, True)]
    assert opened.image_path("cam1/b.png").is_file()


def test_quirky_coco_mixes_into_valid_ids(quirky_coco, tmp_path):
    from synthgen.formats.check import check_dataset

    mix([f"{quirky_coco / 'labels.json'}::{quirky_coco / 'imgs'}"], tmp_path / "out", MixOptions(val_fraction=0.5, seed=1))
    ids = []
    for split in ("train", "val"):
        assert check_dataset(tmp_path / "out" / split).ok
        data = json.loads((tmp_path / "out" / split / "annotations.json").read_text())
        ids += [image["id"] for image in data["images"]]
        assert [c["name"] for c in data["categories"]] == ["dog", "cat"]
        assert min(a["id"] for a in data["annotations"]) == 1
    assert sorted(ids) == [1, 1]


def test_real_coco_photos():
    opened = open_dataset(str(REAL_COCO))
    assert opened.dataset.class_names == ["person"]
    assert sorted(s.id for s in opened.dataset.samples) == [785, 40083, 196141, 197388]
    assert sum(len(s.instances) for s in opened.dataset.samples) == 14
    assert all(i.mask is not None for s in opened.dataset.samples for i in s.instances)
    assert {kind_of(s.provenance) for s in opened.dataset.samples} == {"real"}


def test_blenderproc_output(tmp_path):
    folder = tmp_path / "bproc"
    save_noise(folder / "images/000000.png", 3)
    instance = rect_instance("x", 0)
    mask = instance.decode_mask().ravel(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    counts = np.diff(np.concatenate([[0], changes, [mask.size]])).tolist()
    data = {
        "info": {"description": "coco_annotations"}, "licenses": [],
        "categories": [{"id": 3, "supercategory": "coco_annotations", "name": 3}],
        "images": [{"id": 0, "file_name": "images/000000.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 0, "category_id": 3, "iscrowd": 0, "area": 168,
                         "bbox": [4, 4, 12, 14], "segmentation": {"size": [48, 64], "counts": counts}}],
    }
    (folder / "coco_annotations.json").write_text(json.dumps(data))
    assert detect_format(folder) == "blenderproc"
    opened = open_dataset(str(folder))
    assert opened.dataset.class_names == ["3"]
    sample = opened.dataset.samples[0]
    assert sample.provenance.source == "render" and sample.provenance.backend == "blenderproc"
    assert (sample.instances[0].box, sample.instances[0].area) == (instance.box, instance.area)
    assert np.array_equal(sample.instances[0].decode_mask(), instance.decode_mask())


def test_yolo_folder_round_trip_and_clipping(tmp_path):
    folder = write_dataset(tmp_path / "ds", ["crate", "barrel"], [["crate", "barrel"], ["barrel"]], Provenance(source="import"), seed=5)
    original = load_dataset(folder)
    write_yolo(original, folder, tmp_path / "yolo", task="detect", link=False)
    opened = open_dataset(str(tmp_path / "yolo"))
    assert opened.format == "yolo" and opened.dataset.class_names == ["crate", "barrel"]
    for got, want in zip(opened.dataset.samples, original.samples, strict=True):
        assert [i.category for i in got.instances] == [i.category for i in want.instances]
        for a, b in zip(got.instances, want.instances, strict=True):
            assert a.box == pytest.approx(b.box, abs=1e-3)
    label = tmp_path / "yolo/labels/000001.txt"
    label.write_text(label.read_text() + "0 0.99 0.5 0.1 0.2\n1 1.2 0.5 0.1 0.2\n")
    opened = open_dataset(str(tmp_path / "yolo"))
    assert (opened.clipped, opened.dropped) == (2, 1)
    assert opened.dataset.samples[1].instances[-1].box == pytest.approx((60.16, 19.2, 3.84, 9.6))
    label.write_text("0 0.5 0.5\n")
    with pytest.raises(InputError, match=r"labels/000001.txt:1: expected 'cls cx cy w h'"):
        open_dataset(str(tmp_path / "yolo"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "not a dataset"),
        (lambda p: None, "no such file or folder"),
        (lambda p: p.with_suffix(".json").write_text("{"), "not valid JSON"),
        (lambda p: p.with_suffix(".json").write_text('{"images": []}'), "categories: required list is missing"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, make, message):
    target = tmp_path / "input"
    make(target)
    spec = str(target.with_suffix(".json")) if "JSON" in message or "required" in message else str(target)
    with pytest.raises(InputError) as error:
        open_dataset(spec)
    assert str(error.value).startswith(spec) and message in str(error.value)
