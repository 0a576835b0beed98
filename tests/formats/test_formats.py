"""The label model and its formats: masks, boxes and round trips write -> read == original."""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import COCO_PERSON
from PIL import Image

from synthgen.errors import FormatError, InputError
from synthgen.fileio import atomic_write_png
from synthgen.formats.coco import CocoFormatError, from_coco, read_coco, write_coco
from synthgen.formats.folder import semantic_map
from synthgen.formats.yolo import YoloFormatError, mask_to_polygon, read_yolo, write_yolo
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names


def square_mask(h=20, w=30, y0=2, y1=9, x0=3, x1=12) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def small_dataset(tmp_path) -> Dataset:
    a = Instance.from_mask("cat", square_mask(), truncated=False)
    two_parts = square_mask(y0=12, y1=18, x0=1, x1=5) | square_mask(y0=12, y1=18, x0=20, x1=29)
    b = Instance.from_mask("dog", two_parts, score=0.75, attributes={"note": "x"})
    c = Instance(category="cat", box=(1.5, 2.0, 4.0, 3.0), area=12.0)  # box only
    samples = [
        Sample("images/000000.png", 30, 20, [a, b], Provenance(source="render", seed=1, index=0, recipe_hash="abc")),
        Sample("images/000001.png", 30, 20, [c], Provenance(source="human", extra={"reviewer": "ann"})),
    ]
    for sample in samples:
        atomic_write_png(tmp_path / sample.file_name, np.zeros((20, 30, 3), dtype=np.uint8))
    return Dataset(categories_from_names(["cat", "dog"]), samples, root=str(tmp_path))


def test_instance_from_mask_derives_exact_box_and_area():
    instance = Instance.from_mask("cat", square_mask())
    assert instance.box == (3.0, 2.0, 9.0, 7.0)
    assert instance.area == 63.0
    assert np.array_equal(instance.decode_mask(), square_mask())


def test_coco_round_trip_is_identity(tmp_path):
    dataset = small_dataset(tmp_path)
    write_coco(dataset, tmp_path / "annotations.json")
    back = read_coco(tmp_path / "annotations.json")
    assert back.categories == dataset.categories
    for original, read in zip(dataset.samples, back.samples, strict=True):
        assert (read.file_name, read.width, read.height) == (original.file_name, original.width, original.height)
        assert read.provenance == original.provenance
        assert read.instances == original.instances
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]
    assert [c["id"] for c in data["categories"]] == [1, 2]
    assert data["annotations"][1]["score"] == 0.75


def test_coco_reader_takes_real_world_quirks():
    polygon = [[2, 2, 10, 2, 10, 8, 2, 8]]
    data = {
        "images": [{"id": 0, "file_name": "sub/a.jpg", "width": 12, "height": 10}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 0, "bbox": [2, 2, 8, 6], "segmentation": polygon, "iscrowd": 0},
            {"id": 1, "image_id": 0, "category_id": 0, "bbox": [0, 0, 3, 3], "iscrowd": 1,
             "segmentation": {"size": [10, 12], "counts": [0, 3, 7, 3, 7, 3, 97]}},
        ],
        "categories": [{"id": 0, "name": "thing"}],
    }
    dataset = from_coco(data)
    assert dataset.class_names == ["thing"] and dataset.categories[0].id == 1
    first, crowd = dataset.samples[0].instances
    assert first.decode_mask().shape == (10, 12) and first.box == (2.0, 2.0, 8.0, 6.0)
    assert crowd.iscrowd and crowd.area == 9.0 and crowd.box == (0.0, 0.0, 3.0, 3.0)


def test_coco_reader_keeps_a_persons_sub_pixel_boxes():
    """Real COCO boxes are not the bounds of their rasterised polygons: the file's box is kept, the
    area is the mask's pixels, and a box-less polygon gets its mask's bounds."""
    raw = json.loads((COCO_PERSON / "test_coco.json").read_text())
    dataset = read_coco(COCO_PERSON / "test_coco.json")
    by_file = {image["id"]: image["file_name"] for image in raw["images"]}
    expected = sorted((by_file[a["image_id"]], tuple(float(v) for v in a["bbox"])) for a in raw["annotations"])
    read = sorted((s.file_name, i.box) for s in dataset.samples for i in s.instances)
    assert len(read) == 14 and read == expected
    assert all(i.area == i.decode_mask().sum() for s in dataset.samples for i in s.instances)
    polygon = {"images": [{"id": 1, "file_name": "a.jpg", "width": 12, "height": 10}], "categories": [{"id": 1, "name": "a"}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8]]}]}
    assert from_coco(polygon).samples[0].instances[0].box == (2.0, 2.0, 8.0, 6.0)


def test_coco_reader_errors_name_file_and_field(tmp_path):
    bad = {"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}], "categories": [{"id": 1, "name": "a"}],
           "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(CocoFormatError, match=r"bad.json: annotations\[0\].image_id: no image with id 9"):
        read_coco(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="broken.json: not valid JSON: Expecting property name"):
        read_coco(tmp_path / "broken.json")
    with pytest.raises(CocoFormatError, match="coco file: categories: required list is missing"):
        from_coco({"images": []})


def test_yolo_detect_round_trip(tmp_path):
    dataset = small_dataset(tmp_path)
    write_yolo(dataset, tmp_path, tmp_path / "yolo", task="detect")
    assert (tmp_path / "yolo/labels/000000.txt").read_text().splitlines()[0] == "0 0.250000 0.275000 0.300000 0.350000"
    back = read_yolo(tmp_path / "yolo")
    assert back.class_names == ["cat", "dog"]
    for original, read in zip(dataset.samples, back.samples, strict=True):
        assert [i.category for i in read.instances] == [i.category for i in original.instances]
        for a, b in zip(original.instances, read.instances, strict=True):
            assert np.allclose(a.box, b.box, atol=1e-4)
    assert Image.open(tmp_path / "yolo/images/000000.png").size == (30, 20)


def test_yolo_segment_polygons_cover_every_part(tmp_path):
    dataset = small_dataset(tmp_path)
    write_yolo(dataset, tmp_path, tmp_path / "yolo-seg", task="segment")
    back = read_yolo(tmp_path / "yolo-seg")
    original = dataset.samples[0].instances[1]
    read = back.samples[0].instances[1]
    assert read.category == "dog"
    assert read.box == original.box  # both parts survive the single-polygon export
    assert (tmp_path / "yolo-seg/labels/000001.txt").read_text() == ""  # box-only instance has no polygon


def test_mask_to_polygon_of_a_rectangle():
    points = mask_to_polygon(square_mask())
    assert points.min(axis=0).tolist() == [3, 2] and points.max(axis=0).tolist() == [11, 8]


def test_yolo_reader_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "images" / "a.png")
    (tmp_path / "data.yaml").write_text("names: {0: a}\n")
    (tmp_path / "labels" / "a.txt").write_text("3 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match=r"a.txt:1: class: expected a whole number in \[0, 0\] \(got 3.0\)"):
        read_yolo(tmp_path)
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 x\n")
    with pytest.raises(YoloFormatError, match=r"a.txt:1: expected numbers only \(field 3 is not one\)"):
        read_yolo(tmp_path)


def test_semantic_map_paints_class_ids(tmp_path):
    dataset = small_dataset(tmp_path)
    semantic = semantic_map(dataset.samples[0], {"cat": 1, "dog": 2})
    assert semantic.dtype == np.uint8
    assert (semantic == 1).sum() == 63 and (semantic == 2).sum() == dataset.samples[0].instances[1].area
