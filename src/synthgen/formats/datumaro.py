"""COCO in Datumaro's layout, which `datumaro.Dataset.import_from(OUT, "coco")` reads.

```
OUT/annotations/instances_<split>.json    COCO instances of the split (file names inside its image folder)
OUT/images/<split>/000000.png
```
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from synthgen.fileio import place_image
from synthgen.formats.coco import write_coco
from synthgen.formats.sources import Opened
from synthgen.formats.splits import image_names


def write_datumaro(splits: dict[str, Opened], out: Path, link: str = "copy") -> list[str]:
    """Write each split's images and COCO file under `out`; returns notes (none)."""
    for split, opened in splits.items():
        names = image_names(opened)
        for sample, name in zip(opened.dataset.samples, names, strict=True):
            place_image(opened.image_path(sample.file_name), out / "images" / split / name, link)
        samples = [replace(sample, file_name=name) for sample, name in zip(opened.dataset.samples, names, strict=True)]
        write_coco(replace(opened.dataset, samples=samples), out / "annotations" / f"instances_{split}.json")
    return []
