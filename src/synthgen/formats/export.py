"""`synthgen export`: a dataset (or a mix output's splits) written in a layout another tool expects.

The input is anything `formats.sources.open_dataset` reads (a synthgen dataset folder, a COCO file,
YOLO, VOC, BlenderProc), or a mix output: a folder whose `train/`, `val/`, `test/` are dataset
folders, which are exported as the splits of the same name. A single dataset is the `train` split.
Each target writes a new folder that appears complete or not at all (`fileio.staged_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synthgen.errors import InputError
from synthgen.fileio import LINK_MODES, staged_folder
from synthgen.formats.datumaro import write_datumaro
from synthgen.formats.hf import write_hf
from synthgen.formats.splits import open_splits

WRITERS = {"datumaro": write_datumaro, "hf": write_hf}
EXPORT_TARGETS = tuple(WRITERS)


@dataclass
class Exported:
    """What was written: images and instances per split, and notes for the user."""

    images: dict[str, int]
    instances: dict[str, int]
    notes: list[str]


def export_dataset(spec: str, target: str, out: Path, link: str = "copy") -> Exported:
    """Write `spec` as `target` (one of `EXPORT_TARGETS`) into the new folder `out`."""
    if target not in WRITERS:
        raise InputError(f"--to: unknown format {target!r}; known: {', '.join(EXPORT_TARGETS)}")
    if link not in LINK_MODES:
        raise InputError(f"--link: must be one of {', '.join(LINK_MODES)}, got {link!r}")
    splits = open_splits(spec)
    with staged_folder(out) as staging:
        notes = WRITERS[target](splits, staging, link)
    return Exported(
        images={name: len(o.dataset.samples) for name, o in splits.items()},
        instances={name: sum(len(s.instances) for s in o.dataset.samples) for name, o in splits.items()},
        notes=notes,
    )
