"""Pascal VOC: write -> read round trip, labelme's class list, and clear errors on bad XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from mixing_helpers import write_dataset

from synthgen.errors import FormatError
from synthgen.formats.folder import load_dataset
from synthgen.formats.voc import VocFormatError, read_voc, write_voc
from synthgen.labels import Provenance


def box_only(dataset):
    return [
        (Path(s.file_name).name, s.width, s.height, [(i.category, i.box, i.truncated, i.attributes) for i in s.instances])
        for s in dataset.samples
    ]


@pytest.fixture
def dataset_folder(tmp_path: Path) -> Path:
    images = [["crate", "barrel"], [], ["barrel", "barrel", "crate"]]
    return write_dataset(tmp_path / "ds", ["crate", "barrel"], images, Provenance(source="import"), seed=4)


def test_round_trip_boxes_classes_and_flags(dataset_folder, tmp_path):
    original = load_dataset(dataset_folder)
    original.samples[0].instances[0].truncated = True
    original.samples[2].instances[1].attributes = {"difficult": True}
    for sample in original.samples:  # VOC has boxes only
        for instance in sample.instances:
            instance.mask, instance.area = None, instance.box[2] * instance.box[3]
            instance.attributes = {k: v for k, v in instance.attributes.items() if k == "difficult"}
    write_voc(original, dataset_folder, tmp_path / "voc", link="copy")
    back = read_voc(tmp_path / "voc")
    assert back.class_names == ["crate", "barrel"]
    assert box_only(back) == box_only(original)
    assert [s.file_name for s in back.samples] == ["JPEGImages/000000.png", "JPEGImages/000001.png", "JPEGImages/000002.png"]
    assert [i.area for i in back.samples[0].instances] == [i.area for i in original.samples[0].instances]


def test_one_based_inclusive_coordinates(tmp_path):
    (tmp_path / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>50</width><height>40</height></size>"
        "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>"
        "</annotation>"
    )
    dataset = read_voc(tmp_path)
    assert dataset.samples[0].file_name == "a.jpg"
    assert dataset.samples[0].instances[0].box == (0.0, 0.0, 10.0, 20.0)


def test_labelme_class_list_with_background(dataset_folder, tmp_path):
    write_voc(load_dataset(dataset_folder), dataset_folder, tmp_path / "voc", link="symlink")
    (tmp_path / "voc" / "labels.txt").write_text("_background_\nbarrel\ncrate\nunused\n")
    assert read_voc(tmp_path / "voc").class_names == ["barrel", "crate", "unused"]
    (tmp_path / "voc" / "labels.txt").write_text("_background_\nbarrel\n")
    with pytest.raises(VocFormatError, match=r"labels.txt: classes used in the XML files but not listed: crate"):
        read_voc(tmp_path / "voc")


@pytest.mark.parametrize(
    "xml, message",
    [
        ("<annotation><filename>a.jpg", "a.xml: not valid XML"),
        ("<annotation><size><width>5</width><height>5</height></size></annotation>", "a.xml: missing <filename>"),
        ("<annotation><filename>a.jpg</filename><size><width>5</width><height>5</height></size><object><name>x</name></object></annotation>",
         "a.xml: object[0]: missing <bndbox>"),
        ("<annotation><filename>a.jpg</filename><size><width>5</width><height>5</height></size><object><name>x</name>"
         "<bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
         "a.xml: object[0].bndbox.xmin: expected a number"),
    ],
)
def test_malformed_xml_names_file_and_field(tmp_path, xml, message):
    (tmp_path / "a.xml").write_text(xml)
    with pytest.raises(FormatError) as error:
        read_voc(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / message.split(':')[0]}:{message.split(':', 1)[1]}")
