"""BlenderProc's COCO output (`bproc.writer.write_coco_annotations`) -> the label model.

BlenderProc writes `coco_annotations.json` beside `images/000000.png`: image ids from 0,
uncompressed RLE (`counts` as a list) or polygons, and a category `name` that is the numeric
`category_id` itself when objects carry no name. Every sample is marked as a render.
"""

from __future__ import annotations

import json
from pathlib import Path

from synthgen.formats.coco import CocoFormatError, from_coco
from synthgen.labels import Dataset, Provenance

ANNOTATIONS = "coco_annotations.json"


def read_blenderproc(folder: str | Path) -> Dataset:
    """Read a BlenderProc output folder (or its `coco_annotations.json`)."""
    path = Path(folder)
    if path.is_dir():
        path = path / ANNOTATIONS
    try:
        data = json.loads(path.read_text())
        for category in data["categories"]:
            category["name"] = str(category["name"])
    except (OSError, json.JSONDecodeError) as error:
        raise CocoFormatError(f"{path}: cannot read BlenderProc COCO JSON: {error}") from None
    except (KeyError, TypeError) as error:
        raise CocoFormatError(f"{path}: categories: missing or malformed ({error})") from None
    dataset = from_coco(data, root=str(path.parent), source=str(path))
    for sample in dataset.samples:
        sample.provenance = Provenance(source="render", backend="blenderproc", index=sample.id)
    return dataset
