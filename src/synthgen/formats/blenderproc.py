"""Datasets BlenderProc already wrote -> the label model, so they can be checked, reported and mixed.

Two layouts (BlenderProc 2.x):
- its COCO writer (`bproc.writer.write_coco_annotations`): `coco_annotations.json` with `images/`
  beside it; ids may start at 0, masks are uncompressed RLE or polygons, and a category's name is
  whatever the first object of that class was called (or its numeric id), so `class_names`
  (category id -> name) can rename them;
- its HDF5 writer (`bproc.writer.write_hdf5`): one `<frame>.hdf5` per image with `colors` and, when
  segmentation was rendered with `map_by=["instance", "category_id", ...]`, `instance_segmaps` and
  `instance_attribute_maps` (JSON). Images are written out as PNG under `out/images/`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synthgen.errors import FormatError
from synthgen.fileio import MAX_PIXELS, atomic_write_png, read_json
from synthgen.formats import fields
from synthgen.formats.coco import from_coco
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names
from synthgen.layout import IMAGES

COCO_FILE = "coco_annotations.json"


class BlenderProcFormatError(FormatError):
    """A BlenderProc output that cannot be read into the label model."""


def read_blenderproc_coco(folder: str | Path, class_names: dict[int, str] | None = None) -> Dataset:
    """Read BlenderProc's COCO writer output in `folder`; rename categories by id with `class_names`."""
    path = Path(folder) / COCO_FILE
    if not path.exists():
        raise BlenderProcFormatError(f"{folder}: no {COCO_FILE} (is this BlenderProc's COCO output folder?)")
    data = fields.mapping(read_json(path), str(path))
    for k, category in enumerate(fields.array(data.get("categories", []), f"{path}: categories")):
        category = fields.mapping(category, f"{path}: categories[{k}]")
        category_id = fields.whole(category.get("id"), f"{path}: categories[{k}].id", -(2**53))
        category["name"] = (class_names or {}).get(category_id, str(category.get("name")))
    dataset = from_coco(data, root=str(folder), source=str(path))
    for sample in dataset.samples:
        sample.provenance = Provenance(source="render", backend="blenderproc", origin=str(path))
    return dataset


def is_hdf5_output(folder: Path) -> bool:
    """Whether `folder` is BlenderProc HDF5 output (no COCO file, `<n>.hdf5` frames)."""
    return folder.is_dir() and not (folder / COCO_FILE).exists() and any(folder.glob("*.hdf5"))


def read_blenderproc(path: Path) -> Dataset:
    """BlenderProc's COCO output (its folder or its `coco_annotations.json`)."""
    folder = path if path.is_dir() else path.parent
    if is_hdf5_output(folder):
        raise BlenderProcFormatError(
            f"{folder}: BlenderProc HDF5 frames hold their images inside; "
            f"run `synthgen convert {folder} --from blenderproc -o OUT` first and use OUT"
        )
    return read_blenderproc_coco(folder)


def read_blenderproc_hdf5(folder: str | Path, out: str | Path, class_names: dict[int, str] | None = None) -> Dataset:
    """Read every `<n>.hdf5` in `folder` (in frame order); write their images to `out/images/`."""
    import h5py

    folder, out = Path(folder), Path(out)
    files = sorted(folder.glob("*.hdf5"), key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0, p.stem))
    if not files:
        raise BlenderProcFormatError(f"{folder}: no .hdf5 files")
    names = dict(class_names or {})
    samples = []
    for file in files:
        with h5py.File(file, "r") as container:
            missing = [key for key in ("colors", "instance_segmaps", "instance_attribute_maps") if key not in container]
            if missing:
                raise BlenderProcFormatError(
                    f"{file}: no {', '.join(missing)}; render with enable_segmentation_output(map_by=['instance', 'category_id'])"
                )
            for key in ("colors", "instance_segmaps"):
                shape = container[key].shape
                if len(shape) < 2 or shape[0] * shape[1] > MAX_PIXELS:
                    raise fields.bad(f"{file}: {key}", f"an image of at most {MAX_PIXELS} pixels", shape)
            colors = np.asarray(container["colors"])[..., :3].astype(np.uint8)
            segmap = np.asarray(container["instance_segmaps"])
            attributes = _attributes(container["instance_attribute_maps"], f"{file}: instance_attribute_maps")
        instances = []
        for idx, category_id in attributes:
            mask = segmap == idx
            if category_id == 0 or not mask.any():
                continue
            name = names.setdefault(category_id, str(category_id))
            instances.append(Instance.from_mask(name, mask))
        file_name = f"{IMAGES}/{file.stem}.png"
        atomic_write_png(out / file_name, colors)
        provenance = Provenance(source="render", backend="blenderproc", origin=str(file))
        samples.append(Sample(file_name, colors.shape[1], colors.shape[0], instances, provenance))
    return Dataset(categories_from_names([names[i] for i in sorted(names)]), samples, root=str(out))


def _attributes(dataset, where: str) -> list[tuple[int, int]]:
    """(instance index, category id) of each entry of `instance_attribute_maps`, by index."""
    raw = bytes(np.asarray(dataset).tobytes())
    try:
        entries = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fields.bad(where, "a JSON list of {idx, category_id} objects", raw[:40]) from None
    pairs = []
    for k, entry in enumerate(fields.array(entries, where)):
        entry = fields.mapping(entry, f"{where}[{k}]")
        pairs.append((fields.whole(entry.get("idx"), f"{where}[{k}].idx"), fields.whole(entry.get("category_id", 0), f"{where}[{k}].category_id")))
    return sorted(pairs)
