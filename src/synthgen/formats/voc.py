"""Pascal VOC XML <-> the label model (boxes only: VOC XML has no instance masks).

Layout: `Annotations/<stem>.xml`, images in `JPEGImages/` (or beside the XML files when there is no
`JPEGImages/`), and optionally `labels.txt` with one class name per line fixing the class order
(labelme's `_background_` first line is skipped). VOC boxes are 1-based and inclusive:
`xmin = x + 1`, `xmax = x + w`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from synthgen.errors import FormatError
from synthgen.fileio import (
    atomic_write_text,
    image_size,
    inside,
    list_files,
    place_image,
    read_text,
)
from synthgen.formats import fields
from synthgen.formats.coco import BACKGROUND_NAMES
from synthgen.labels import Dataset, Instance, Sample, categories_from_names

CLASS_LIST = "labels.txt"


class VocFormatError(FormatError):
    """A VOC folder that cannot be read into the label model."""


def read_voc(folder: str | Path) -> Dataset:
    """Read a VOC folder (Annotations/ + JPEGImages/, or a flat folder of XML and images)."""
    folder = Path(folder)
    annotations = folder / "Annotations" if (folder / "Annotations").is_dir() else folder
    images = folder / "JPEGImages" if (folder / "JPEGImages").is_dir() else annotations
    xml_files = [p for p in list_files(annotations, (".xml",)) if p.parent == annotations]
    if not xml_files:
        raise VocFormatError(f"{annotations}: no VOC .xml files")
    samples = [_read_sample(path, images.relative_to(folder)) for path in xml_files]
    for sample in samples:
        if not sample.width or not sample.height:
            sample.width, sample.height = image_size(inside(folder, sample.file_name, f"{folder}: {sample.file_name}"))
    names = _class_names(folder, samples)
    return Dataset(categories=categories_from_names(names), samples=samples, root=str(folder))


def _read_sample(path: Path, image_folder: Path) -> Sample:
    text = read_text(path)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise VocFormatError(f"{path}: expected VOC XML without a DOCTYPE or entities")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise VocFormatError(f"{path}: not valid XML: {error}") from None
    file_name = fields.text(_text(root, "filename", path), f"{path}: filename")
    size = root.find("size")
    width = height = 0  # 0: read from the image
    if size is not None:
        width, height = (fields.whole(_read_number(size, key, f"{path}: size"), f"{path}: size.{key}") for key in ("width", "height"))
    if width and height:
        fields.size(width, height, f"{path}: size")
    sample = Sample(file_name=str(image_folder / file_name), width=width, height=height)
    for number, node in enumerate(root.findall("object")):
        sample.instances.append(_read_object(node, f"{path}: object[{number}]"))
    return sample


def _read_object(node: ET.Element, where: str) -> Instance:
    box = node.find("bndbox")
    if box is None:
        raise VocFormatError(f"{where}: missing <bndbox>")
    xmin, ymin, xmax, ymax = (_read_number(box, key, f"{where}.bndbox") for key in ("xmin", "ymin", "xmax", "ymax"))
    if xmax < xmin or ymax < ymin:
        raise VocFormatError(f"{where}.bndbox: xmax/ymax before xmin/ymin: {xmin} {ymin} {xmax} {ymax}")
    x, y, w, h = xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1
    truncated = node.findtext("truncated")
    attributes = {"difficult": True} if node.findtext("difficult", "0").strip() == "1" else {}
    return Instance(
        category=_text(node, "name", where),
        box=(x, y, w, h),
        area=w * h,
        truncated=None if truncated is None else truncated.strip() == "1",
        attributes=attributes,
    )


def _read_number(node: ET.Element, tag: str, where: str) -> float:
    """The finite number in `<tag>` under `node`."""
    value = _text(node, tag, where)
    try:
        number = float(value)
    except ValueError:
        raise fields.bad(f"{where}.{tag}", "a number", value) from None
    return fields.number(number, f"{where}.{tag}")


def _text(node: ET.Element, tag: str, where: object) -> str:
    value = node.findtext(tag)
    if value is None or not value.strip():
        raise VocFormatError(f"{where}: missing <{tag}>")
    return value.strip()


def _class_names(folder: Path, samples: list[Sample]) -> list[str]:
    used = sorted({i.category for s in samples for i in s.instances})
    class_list = folder / CLASS_LIST
    if not class_list.exists():
        return used
    listed = [n.strip() for n in read_text(class_list).splitlines() if n.strip() and n.strip() not in BACKGROUND_NAMES]
    missing = [name for name in used if name not in listed]
    if missing:
        raise VocFormatError(f"{class_list}: classes used in the XML files but not listed: {', '.join(missing)}")
    return listed


def write_voc(dataset: Dataset, dataset_root: Path, out: Path, link: str = "symlink") -> None:
    """Export `dataset` (images under `dataset_root`) as a VOC folder at `out`."""
    for sample in dataset.samples:
        name = Path(sample.file_name).name
        place_image(dataset_root / sample.file_name, out / "JPEGImages" / name, link)
        atomic_write_text(out / "Annotations" / f"{Path(name).stem}.xml", _xml(sample, name))
    atomic_write_text(out / CLASS_LIST, "".join(f"{name}\n" for name in dataset.class_names))


def _xml(sample: Sample, name: str) -> str:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = name
    size = ET.SubElement(root, "size")
    for key, value in (("width", sample.width), ("height", sample.height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for instance in sample.instances:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = instance.category
        if instance.truncated is not None:
            ET.SubElement(node, "truncated").text = str(int(instance.truncated))
        ET.SubElement(node, "difficult").text = str(int(bool(instance.attributes.get("difficult"))))
        x, y, w, h = instance.box
        box = ET.SubElement(node, "bndbox")
        for key, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
            ET.SubElement(box, key).text = _number(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
