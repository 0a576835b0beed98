"""A Hugging Face `imagefolder` dataset, which `datasets.load_dataset(OUT)` reads as is.

```
OUT/<split>/metadata.jsonl        one JSON line per image (train/, val/ -> "validation", test/)
OUT/<split>/images/000000.png
OUT/<split>/masks/000000_0.png    instance k's mask (0 or 255), when every instance has a mask
OUT/README.md                     the class names in index order, and how to load it
```

Each row: `image`, `image_id`, `width`, `height`, `objects` (`id`, `bbox` as COCO `[x, y, w, h]`
pixels, `category` as a class index from 0 in the dataset's class order, `category_name`, `area`,
`iscrowd`) and `masks` (one mask image per object, in the order of `objects`). Masks are written
only when every instance has one, so `masks[k]` is always object k's.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np

from synthgen.fileio import atomic_write_png, atomic_write_text, place_image
from synthgen.formats.sources import Opened
from synthgen.formats.splits import image_names
from synthgen.labels import Sample

IMAGES_FOLDER, MASKS_FOLDER, METADATA = "images", "masks", "metadata.jsonl"
NO_MASKS_NOTE = "no masks column: some instances have boxes only"


def write_hf(splits: dict[str, Opened], out: Path, link: str = "copy") -> list[str]:
    """Write each split as an imagefolder split under `out`; returns notes for the user."""
    with_masks = all(i.mask is not None for o in splits.values() for s in o.dataset.samples for i in s.instances)
    class_names = next(iter(splits.values())).dataset.class_names
    for split, opened in splits.items():
        rows = []
        for position, (sample, name) in enumerate(zip(opened.dataset.samples, image_names(opened), strict=True), start=1):
            place_image(opened.image_path(sample.file_name), out / split / IMAGES_FOLDER / name, link)
            row = _row(sample, f"{IMAGES_FOLDER}/{name}", sample.id if sample.id is not None else position, opened.dataset.class_names)
            if with_masks:
                row["masks_file_names"] = _write_masks(sample, out / split, name)
            rows.append(json.dumps(row, separators=(",", ":")))
        atomic_write_text(out / split / METADATA, "".join(f"{row}\n" for row in rows))
    atomic_write_text(out / "README.md", _card(class_names, with_masks))
    return [] if with_masks else [NO_MASKS_NOTE]


def _row(sample: Sample, file_name: str, image_id: int, class_names: list[str]) -> dict:
    index = {name: i for i, name in enumerate(class_names)}
    instances = sample.instances
    return {
        "file_name": file_name,
        "image_id": image_id,
        "width": sample.width,
        "height": sample.height,
        "objects": {
            "id": list(range(1, len(instances) + 1)),
            "bbox": [[float(v) for v in i.box] for i in instances],
            "category": [index[i.category] for i in instances],
            "category_name": [i.category for i in instances],
            "area": [float(i.area) for i in instances],
            "iscrowd": [int(i.iscrowd) for i in instances],
        },
    }


def _write_masks(sample: Sample, split_folder: Path, image_name: str) -> list[str]:
    stem = PurePosixPath(image_name).with_suffix("")
    names = []
    for k, instance in enumerate(sample.instances):
        name = f"{MASKS_FOLDER}/{stem}_{k}.png"
        atomic_write_png(split_folder / name, instance.decode_mask().astype(np.uint8) * 255)
        names.append(name)
    return names


def _card(class_names: list[str], with_masks: bool) -> str:
    classes = "\n".join(f"- {i}: {name}" for i, name in enumerate(class_names))
    masks = "`masks` holds one mask image (0 or 255) per object." if with_masks else NO_MASKS_NOTE + "."
    return (
        "---\ntask_categories:\n- object-detection\n---\n"
        "# synthgen export (Hugging Face imagefolder)\n\n"
        "Load with `datasets.load_dataset(\"path/to/this/folder\")`. Each row has `image`, `image_id`, "
        "`width`, `height` and `objects` (`id`, `bbox` as COCO `[x, y, w, h]` pixels, `category`, "
        f"`category_name`, `area`, `iscrowd`). {masks}\n\n`category` indexes these classes:\n\n{classes}\n"
    )
