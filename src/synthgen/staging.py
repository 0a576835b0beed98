"""Writing a whole dataset folder so it appears complete or not at all, and keeping paths inside it.

`staged_folder(out)` yields a temporary sibling folder; on success it replaces `out` by a rename,
on any error it is deleted, so a failed `prelabel` or `review import` leaves no partial dataset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UnsafePathError(ValueError):
    """A file name that points outside the folder it must stay in."""


def refuse_existing(out: Path) -> None:
    """Outputs are new folders: never mix a run's files into an earlier one's."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: output folder exists and is not empty")


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out` that becomes `out` when the block ends without error."""
    out = Path(out)
    refuse_existing(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        yield staging
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def inside(root: Path, relative: str, what: str) -> Path:
    """`root / relative`, refusing absolute paths and `..` that leave `root` (`what` names the field)."""
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise UnsafePathError(f"{what}: {relative!r} escapes {root}")
    return path


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (no bytes copied), or copy when linking is not possible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_dataset_folder(dataset, out: Path, image_source, manifest: dict) -> None:
    """Write `dataset` as a complete folder at `out`: each sample's image linked from
    `image_source(sample)`, `annotations.json`, semantic maps when there are masks, `manifest.json`."""
    from synthgen.dataset import MANIFEST, atomic_write_json, write_labels

    with staged_folder(out) as staging:
        for sample in dataset.samples:
            link_or_copy(image_source(sample), staging / sample.file_name)
        has_masks = any(i.mask is not None for s in dataset.samples for i in s.instances)
        write_labels(dataset, staging, semantic=has_masks)
        atomic_write_json(staging / MANIFEST, manifest)
