"""CVAT for images 1.1 XML <-> the label model.

Writes one `<image>` per sample (`name` = the sample's file name, `id` from 0) holding a `<box>`
per box-only instance and, for an instance with a mask, a `<polygon>` (its pixel outline,
`formats.polygons`) or a `<mask>` (CVAT's own RLE, exact), by the `masks` mode. Reads CVAT's
"CVAT for images 1.1" export (the XML, or the zip CVAT downloads): boxes, polygons and masks; any
other shape, a rotated box, a track (video task) or a label outside the dataset's classes fails.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from synthgen.errors import FormatError
from synthgen.fileio import MAX_JSON_BYTES, read_bytes
from synthgen.formats.polygons import outline_polygon, polygon_mask
from synthgen.labels import Instance, Sample

VERSION = "1.1"
MASK_MODES = ("polygons", "brush", "none")
XML_NAME = "annotations.xml"
Resolver = Callable[[str, str], tuple[str, tuple[int, int]]]  # (CVAT name, where) -> (file name, (width, height))


class CvatFormatError(FormatError):
    """A CVAT XML file that cannot be read into the label model."""


def to_cvat_xml(samples: list[Sample], classes: list[str], masks: str = "polygons", name: str = "synthgen review") -> str:
    """The samples as a CVAT for images 1.1 annotations document."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = VERSION
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for key, value in (("name", name), ("size", str(len(samples))), ("mode", "annotation")):
        ET.SubElement(task, key).text = value
    labels = ET.SubElement(task, "labels")
    for class_name in classes:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = class_name
        ET.SubElement(label, "attributes")
    for index, sample in enumerate(samples):
        image = ET.SubElement(root, "image", id=str(index), name=sample.file_name,
                              width=str(sample.width), height=str(sample.height))  # fmt: skip
        for instance in sample.instances:
            tag, geometry = _shape(instance, masks)
            ET.SubElement(image, tag, label=instance.category, source="auto", occluded="0", **geometry, z_order="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _shape(instance: Instance, masks: str) -> tuple[str, dict[str, str]]:
    if instance.mask is None or masks == "none":
        x, y, w, h = instance.box
        return "box", {"xtl": f"{x:.2f}", "ytl": f"{y:.2f}", "xbr": f"{x + w:.2f}", "ybr": f"{y + h:.2f}"}
    mask = instance.decode_mask()
    if masks == "polygons":
        return "polygon", {"points": ";".join(f"{x:.2f},{y:.2f}" for x, y in outline_polygon(mask))}
    return "mask", mask_rle(mask)


def mask_rle(mask: np.ndarray) -> dict[str, str]:
    """CVAT's mask attributes: run lengths over the mask's bounding box, row by row, background first."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    crop = mask[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1].ravel()
    edges = np.flatnonzero(crop[1:] != crop[:-1]) + 1
    counts = np.diff(np.concatenate(([0], edges, [crop.size]))).tolist()
    if crop[0]:
        counts.insert(0, 0)
    width, height = int(cols[-1]) - left + 1, int(rows[-1]) - top + 1
    return {"rle": ", ".join(map(str, counts)), "left": str(left), "top": str(top), "width": str(width), "height": str(height)}


def read_cvat(path: Path, classes: list[str], resolve: Resolver | None = None) -> list[Sample]:
    """The images of a CVAT for images 1.1 export (XML or CVAT's zip) with their shapes as Instances.
    `resolve(name, where)` names the dataset image a CVAT image stands for; its size must match."""
    root = _parse(Path(path))
    if root.tag != "annotations":
        raise CvatFormatError(f"{path}: expected <annotations> (CVAT for images 1.1), got <{root.tag}>")
    if root.find("track") is not None:
        raise CvatFormatError(f"{path}: track: video (interpolation) tasks are not supported; export as images")
    return [_image(element, classes, f"{path}: image[{k}]", resolve) for k, element in enumerate(root.iter("image"))]


def _parse(path: Path) -> ET.Element:
    """The XML's root element, from the file or from CVAT's zip (each at most `MAX_JSON_BYTES`)."""
    try:
        if not zipfile.is_zipfile(path):
            return ET.fromstring(read_bytes(path, MAX_JSON_BYTES))
        with zipfile.ZipFile(path) as archive:
            size = archive.getinfo(XML_NAME).file_size
            if size > MAX_JSON_BYTES:
                raise CvatFormatError(f"{path}: {XML_NAME} unpacks to {size} bytes, more than {MAX_JSON_BYTES}")
            return ET.fromstring(archive.read(XML_NAME))
    except KeyError:
        raise CvatFormatError(f"{path}: the zip holds no {XML_NAME}") from None
    except ET.ParseError as error:
        raise CvatFormatError(f"{path}: not CVAT XML: {error}") from None
    except (OSError, zipfile.BadZipFile) as error:
        raise CvatFormatError(f"{path}: cannot read: {error}") from None


def _image(element: ET.Element, classes: list[str], where: str, resolve: Resolver | None) -> Sample:
    try:
        name, width, height = element.attrib["name"], int(element.attrib["width"]), int(element.attrib["height"])
    except (KeyError, ValueError) as error:
        raise CvatFormatError(f"{where}: expected name, width and height attributes ({error!r})") from None
    if resolve is not None:  # before any mask is drawn at a size the file claims
        name, known = resolve(name, f"{where}.name")
        if known != (width, height):
            raise CvatFormatError(f"{where}.name: {element.attrib['name']!r} is {width}x{height} in CVAT, "
                                  f"{known[0]}x{known[1]} in the dataset")  # fmt: skip
    instances = []
    for k, shape in enumerate(element):
        at = f"{where}.{shape.tag}[{k}]"
        label = shape.attrib.get("label")
        if label not in classes:
            raise CvatFormatError(f"{at}.label: unknown class {label!r}")
        instances.append(_instance(shape, label, height, width, at))
    return Sample(file_name=name, width=width, height=height, instances=instances)


def _instance(shape: ET.Element, label: str, height: int, width: int, at: str) -> Instance:
    attrib = shape.attrib
    try:
        if shape.tag == "box":
            if float(attrib.get("rotation", 0)):
                raise CvatFormatError(f"{at}.rotation: rotated boxes are not supported")
            x0, y0, x1, y1 = (float(attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
            return Instance(category=label, box=(x0, y0, x1 - x0, y1 - y0), area=(x1 - x0) * (y1 - y0))
        if shape.tag == "polygon":
            points = np.array([[float(v) for v in pair.split(",")] for pair in attrib["points"].split(";")])
            mask = polygon_mask(points.reshape(-1, 2), height, width)
        elif shape.tag == "mask":
            mask = _mask(attrib, height, width, at)
        else:
            raise CvatFormatError(f"{at}: <{shape.tag}> is not supported (box, polygon, mask)")
    except (KeyError, ValueError) as error:
        raise CvatFormatError(f"{at}: malformed <{shape.tag}> ({error!r})") from None
    if not mask.any():
        raise CvatFormatError(f"{at}: the {shape.tag} covers no pixel")
    return Instance.from_mask(label, mask)


def _mask(attrib: dict[str, str], height: int, width: int, at: str) -> np.ndarray:
    counts = [int(v) for v in attrib["rle"].split(",")]
    left, top, w, h = (int(attrib[k]) for k in ("left", "top", "width", "height"))
    if min(counts, default=-1) < 0 or sum(counts) != w * h or left < 0 or top < 0 or left + w > width or top + h > height:
        raise CvatFormatError(f"{at}.rle: runs must cover the {w}x{h} box at ({left}, {top}) inside the {width}x{height} image")
    values = np.arange(len(counts)) % 2 == 1
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + h, left : left + w] = np.repeat(values, counts).reshape(h, w)
    return mask
