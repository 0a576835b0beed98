"""Builders of hostile inputs for tests/hostile/test_inputs.py: each returns `build(root)`, which writes
one input under `root` (the case's input folder). `SECRET` is the content of the file that links
point to outside the inputs; no command may ever print it."""

from __future__ import annotations

import copy
import functools
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from PIL import Image
from recipes import tiny_recipe_data

SECRET = "SECRET-CONTENT-1234"
Build = Callable[[Path], None]


def png(path: Path, size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)


@functools.cache
def huge_png_bytes(side: int = 30000) -> bytes:
    """A valid 1-bit grayscale PNG of side x side pixels (~100 KB on disk, 900 M pixels decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\0" * (1 + (side + 7) // 8)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def huge_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(huge_png_bytes())


def outside(root: Path) -> Path:
    """The folder beside the inputs that links point into (the runner snapshots it too)."""
    return root.parent / "outside"


def base_coco() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "images/a.png", "width": 8, "height": 6}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12, "iscrowd": 0,
                         "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]}],
        "categories": [{"id": 1, "name": "box"}],
    }  # fmt: skip


def at(path: str, value: Any) -> Callable[[dict], None]:
    """A change setting `a.0.b`-style `path` in a JSON dict to `value`."""
    def change(data: Any) -> None:
        *keys, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys:
            data = data[key]
        data[last] = value
    return change


def coco_dataset(*changes: Callable[[dict], None], text: str | None = None, image: Build | None = None, name: str = "ds") -> Build:
    """A synthgen-style dataset folder `name/` (annotations.json + images/a.png), changed by `changes`."""
    def build(root: Path) -> None:
        folder = root / name
        (image or (lambda f: png(f / "images/a.png")))(folder)
        data = base_coco()
        for change in changes:
            change(data)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "annotations.json").write_text(text if text is not None else json.dumps(data))
    return build


def link_outside(relative: str, target: str = "secret.png") -> Callable[[Path], None]:
    """An image builder: `relative` is a symlink to a text file outside the inputs."""
    def build(folder: Path) -> None:
        secret = outside(folder.parent) / target
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(SECRET + "\n")
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(secret, folder / relative)
    return build


def file(relative: str, content: str | bytes | Callable[[Path], None]) -> Build:
    """`relative` under the inputs with `content` (text, bytes, or a builder of that path)."""
    def build(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return build


def json_file(relative: str, data: Any) -> Build:
    return file(relative, json.dumps(data))


def fifo(relative: str) -> Build:
    def build(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(root / relative)
    return build


def yolo_folder(labels: str, names: str = "names: [box]\n", label_link: bool = False) -> Build:
    def build(root: Path) -> None:
        png(root / "yolo/images/a.png")
        (root / "yolo/data.yaml").write_text(names)
        (root / "yolo/labels").mkdir()
        if label_link:
            link_outside("labels/a.txt", "secret.txt")(root / "yolo")
        else:
            (root / "yolo/labels/a.txt").write_text(labels)
    return build


def voc_folder(size: str = "<width>8</width><height>6</height>", box: str = "<xmin>2</xmin><ymin>2</ymin><xmax>5</xmax><ymax>4</ymax>", head: str = "") -> Build:
    def build(root: Path) -> None:
        png(root / "voc/JPEGImages/a.png")
        (root / "voc/Annotations").mkdir(parents=True)
        (root / "voc/Annotations/a.xml").write_text(
            f"{head}<annotation><filename>a.png</filename><size>{size}<depth>3</depth></size>"
            f"<object><name>box</name><bndbox>{box}</bndbox></object></annotation>"
        )
    return build


def recipe(*changes: Callable[[dict], None], text: str | None = None, extra: Build | None = None) -> Build:
    """`r.yaml`: the tiny test recipe changed by `changes` (or `text`); `extra` builds its other files."""
    def build(root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        data = copy.deepcopy(tiny_recipe_data())
        for change in changes:
            change(data)
        (root / "r.yaml").write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
        if extra:
            extra(root)
    return build


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "version: 1\n" + "\n".join(lines) + "\n"


def photos(results: list[dict] | None = None, image: Build | None = None, images_json: Any = None) -> Build:
    """`photos/000000000001.png` (8x6) and `results.json` (COCO results for it, class 1 = box)."""
    def build(root: Path) -> None:
        (image or (lambda f: png(f / "000000000001.png")))(root / "photos")
        default = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "score": 0.9}]
        (root / "results.json").write_text(json.dumps(default if results is None else results))
        if images_json is not None:
            (root / "images.json").write_text(json.dumps(images_json))
    return build


def prelabelled(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    """Changes making `coco_dataset` a pre-labelled folder (scores, prelabel provenance), then `changes`."""
    def change(data: dict) -> None:
        data["images"][0]["provenance"] = {"source": "prelabel", "origin": "a.png", "extra": {"reviewed": False}}
        data["annotations"][0]["score"] = 0.5
        for more in changes:
            more(data)
    return change


def rectangle(**value: Any) -> dict[str, Any]:
    """A Label Studio rectangle result (defaults: a 50% box of an 8x6 image)."""
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 8, "original_height": 6,
            "value": {"x": 10, "y": 10, "width": 50, "height": 50, "rotation": 0, "rectanglelabels": ["box"], **value}}  # fmt: skip


def labelstudio_export(results: Any = None, task: dict | None = None) -> Build:
    """`export.json`: one Label Studio task for images/a.png annotated with `results`."""
    default = [rectangle()] if results is None else results
    tasks = [task if task is not None else {"data": {"image": "x", "synthgen_file_name": "images/a.png"}, "annotations": [{"result": default}]}]
    return json_file("export.json", tasks)


def both(*builds: Build) -> Build:
    def build(root: Path) -> None:
        for one in builds:
            one(root)
    return build


def sparse(relative: str, size: int) -> Build:
    """A sparse file of `size` bytes (no disk used): a 'huge' input."""
    def build(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        with open(root / relative, "wb") as handle:
            handle.truncate(size)
    return build


def hdf5_frame(attributes: bytes, side: int = 0) -> Build:
    """`frames/0.hdf5`: a BlenderProc HDF5 frame (8x6, or `side` x `side` colors stored as chunks never
    written: a small file) whose instance_attribute_maps holds `attributes`."""
    def build(root: Path) -> None:
        import h5py
        import numpy as np

        (root / "frames").mkdir(parents=True)
        with h5py.File(root / "frames/0.hdf5", "w") as frame:
            if side:
                frame.create_dataset("colors", shape=(side, side, 3), dtype=np.uint8, chunks=(256, 256, 3), compression="gzip")
            else:
                frame["colors"] = np.zeros((6, 8, 3), dtype=np.uint8)
            frame["instance_segmaps"] = np.ones((6, 8), dtype=np.int32)
            frame["instance_attribute_maps"] = np.frombuffer(attributes, dtype=np.uint8)
    return build
