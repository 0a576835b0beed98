"""CVAT for images 1.1: the review queue as an XML task, and CVAT's export read back by file name."""

import json
import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from helpers import assert_valid_dataset, invoke
from review_helpers import mask_iou, prelabel_boxes, prelabel_masks

from synthgen.fileio import atomic_write_png
from synthgen.formats import cvat
from synthgen.formats.folder import load_dataset, write_labels
from synthgen.labels import Dataset, Instance, Sample, categories_from_names
from synthgen.real.review import ReviewError, export_review, import_review

# What CVAT 2.x writes for a task made from the uploaded photos (names without folders), as its
# "CVAT for images 1.1" export: a box the person drew, a polygon, a brush mask and an image tag.
CVAT_EXPORT = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <job><id>7</id><size>2</size><mode>annotation</mode><overlap>0</overlap>
      <labels><label><name>person</name><color>#fa3253</color><type>any</type><attributes></attributes></label></labels>
    </job>
    <dumped>2026-12-01 08:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="000000000785.jpg" width="640" height="425">
    <box label="person" source="manual" occluded="0" xtl="10.50" ytl="20.00" xbr="40.50" ybr="60.00" z_order="0">
    </box>
    <polygon label="person" source="manual" occluded="0" points="100.00,100.00;110.00,100.00;110.00,120.00;100.00,120.00" z_order="0">
    </polygon>
    <mask label="person" source="manual" occluded="0" rle="0, 2, 1, 3" left="200" top="300" width="3" height="2" z_order="0">
    </mask>
  </image>
  <image id="1" name="000000040083.jpg" width="500" height="333">
  </image>
</annotations>
"""


@pytest.fixture()
def masked(coco_person, tmp_path):
    return prelabel_masks(coco_person, tmp_path / "masked")


def test_export_writes_the_queue_as_a_cvat_task(masked, tmp_path):
    out = tmp_path / "review" / "task.xml"
    run = invoke("review", "export", masked, "--to", "cvat", "--budget", "3", "-o", out)
    assert run.exit_code == 0, run.output
    root = ET.parse(out).getroot()
    assert root.find("version").text == "1.1"
    assert [label.find("name").text for label in root.iter("label")] == ["person"]
    reasons = json.loads((tmp_path / "review" / "selection.json").read_text())
    images = root.findall("image")
    assert [i.get("name") for i in images] == [r["file_name"] for r in reasons] and len(images) == 3
    dataset = {s.file_name: s for s in load_dataset(masked).samples}
    for image in images:
        sample = dataset[image.get("name")]
        assert (int(image.get("width")), int(image.get("height"))) == (sample.width, sample.height)
        assert [shape.tag for shape in image] == ["polygon"] * len(sample.instances)
        points = [float(v) for shape in image for pair in shape.get("points").split(";") for v in pair.split(",")]
        assert all((4 * v).is_integer() for v in points)  # pixel edges, a quarter pixel inside


def test_boxes_are_written_as_cvat_boxes(coco_person, tmp_path):
    boxes = prelabel_boxes(coco_person, tmp_path / "real")
    export_review(boxes, 1, "cvat", tmp_path / "task.xml")
    image = ET.parse(tmp_path / "task.xml").getroot().find("image")
    first = load_dataset(boxes).samples[1].instances[0]  # the queue's first image: 000000040083.jpg
    x, y, _, h = first.box
    assert image.get("name") == "images/000000040083.jpg" and len(image) == 8
    assert image[0].tag == "box" and image[0].get("xtl") == f"{x:.2f}" and image[0].get("ybr") == f"{y + h:.2f}"


@pytest.mark.parametrize("masks", ["polygons", "brush"])
def test_exported_task_read_back_gives_the_same_masks(masked, tmp_path, masks):
    out = tmp_path / "task.xml"
    export_review(masked, 4, "cvat", out, masks=masks)
    assert import_review(masked, out, tmp_path / "reviewed") == (4, 0)
    before = {s.file_name: s for s in load_dataset(masked).samples}
    after = assert_valid_dataset(tmp_path / "reviewed").samples
    pairs = [(n, o) for s in after for n, o in zip(s.instances, before[s.file_name].instances, strict=True)]
    assert len(pairs) == 14 and [len(s.instances) for s in after] == [len(before[s.file_name].instances) for s in after]
    if masks == "brush":  # CVAT masks are exact
        assert [n.mask for n, _ in pairs] == [o.mask for _, o in pairs]
    assert min(mask_iou(n.decode_mask(), o.decode_mask()) for n, o in pairs) >= 0.95
    assert all(s.provenance.source == "human" and s.provenance.extra["review"]["tool"] == "cvat" for s in after)


def test_cvat_mask_rle_matches_cvat_s_layout():
    mask = np.zeros((5, 6), dtype=bool)
    mask[1, 2:4] = True
    mask[2, 3] = True
    assert cvat.mask_rle(mask) == {"rle": "0, 2, 1, 1", "left": "2", "top": "1", "width": "2", "height": "2"}


def test_cvat_s_own_export_is_matched_by_file_name(masked, tmp_path):
    export = tmp_path / "annotations.xml"
    export.write_text(CVAT_EXPORT)
    assert import_review(masked, export, tmp_path / "reviewed") == (2, 0)
    after = {s.file_name: s for s in assert_valid_dataset(tmp_path / "reviewed").samples}
    reviewed = after["images/000000000785.jpg"]
    assert [(i.category, i.box) for i in reviewed.instances] == [
        ("person", (10.5, 20.0, 30.0, 40.0)), ("person", (100.0, 100.0, 10.0, 20.0)), ("person", (200.0, 300.0, 3.0, 2.0))
    ]  # fmt: skip
    assert reviewed.instances[2].decode_mask()[300:302, 200:203].tolist() == [[True, True, False], [True, True, True]]
    assert after["images/000000040083.jpg"].instances == []  # the person removed every pre-label
    assert after["images/000000040083.jpg"].provenance.extra["review"]["edits"]["removed"] == 3
    assert after["images/000000196141.jpg"].provenance.source == "prelabel"
    zipped = tmp_path / "export.zip"  # what CVAT's "Export task dataset" downloads
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("annotations.xml", CVAT_EXPORT)
    assert import_review(masked, zipped, tmp_path / "reviewed-zip") == (2, 0)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name="000000040083.jpg"', 'name="000000999999.jpg"',
         r"image\[1\].name: '000000999999.jpg' is not an image of the dataset"),
        ('<box label="person"', '<box label="forklift"', r"image\[0\].box\[0\].label: unknown class 'forklift'"),
        ('polygon', 'polyline',
         r"image\[0\].polyline\[1\]: <polyline> is not supported \(box, polygon, mask\)"),
        ('z_order="0">\n    </box>', 'rotation="30.0" z_order="0">\n    </box>',
         r"image\[0\].box\[0\].rotation: rotated boxes are not supported"),
        ('rle="0, 2, 1, 3"', 'rle="0, 2, 1, 9"',
         r"image\[0\].mask\[2\].rle: runs must cover the 3x2 box at \(200, 300\) inside the 640x425 image"),
        ('width="500" height="333"', 'width="50" height="33"',
         r"image\[1\].name: '000000040083.jpg' is 50x33 in CVAT, 500x333 in the dataset"),
        ("<annotations>", "<annotations><track id=\"0\" label=\"person\"/>", "track: video"),
        ("</annotations>", "", "not CVAT XML: no element found"),
    ],
)
def test_bad_cvat_exports_fail_with_one_line(masked, tmp_path, old, new, message):
    export = tmp_path / "annotations.xml"
    assert old in CVAT_EXPORT
    export.write_text(CVAT_EXPORT.replace(old, new))
    with pytest.raises(ReviewError, match=message):
        import_review(masked, export, tmp_path / "reviewed")
    run = invoke("review", "import", masked, export, "-o", tmp_path / "reviewed")
    assert run.exit_code == 1 and run.output.startswith(f"error: {export}: ") and run.output.count("\n") == 1
    assert not (tmp_path / "reviewed").exists()


def test_a_base_name_shared_by_two_images_is_ambiguous(tmp_path):
    samples = [Sample(f"{folder}/a.png", 4, 4, [Instance("cat", (0, 0, 1, 1), 1)]) for folder in ("x", "y")]
    xml = cvat.to_cvat_xml([Sample("a.png", 4, 4)], ["cat"])
    (tmp_path / "dataset").mkdir()
    for sample in samples:
        atomic_write_png(tmp_path / "dataset" / sample.file_name, np.zeros((4, 4, 3), dtype=np.uint8))
    write_labels(Dataset(categories_from_names(["cat"]), samples, root=str(tmp_path / "dataset")), tmp_path / "dataset")
    (tmp_path / "task.xml").write_text(xml)
    with pytest.raises(ReviewError, match=r"image\[0\].name: 'a.png' matches several images \(x/a.png, y/a.png\)"):
        import_review(tmp_path / "dataset", tmp_path / "task.xml", tmp_path / "reviewed")
