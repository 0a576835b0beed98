"""What synthgen wrote in a run's output folder, and the lock that keeps one render per folder.

`.synthgen/owned.json` (the marker) names the top-level entries a run created there and how many
image indices it may have written files for. `--overwrite`, a lower `--count` and extending a
finished run delete only those: a per-image file only when its name is an index synthgen used
(`images/000003.png`), an export folder (`yolo/`) whole, a link never followed. Everything else in
the folder is the user's and stays. `.synthgen/run.lock` is held with `fcntl.flock` for a whole run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from synthgen.errors import OutputError
from synthgen.fileio import atomic_write_json
from synthgen.formats import EXPORTS
from synthgen.layout import ANNOTATIONS, DEPTH, IMAGES, MANIFEST, NORMALS, SEMANTIC, STATE
from synthgen.recipe import Recipe

LOCK = "lock.json"
RECORDS = "samples"
OWNED = "owned.json"
RUN_LOCK = "run.lock"
PER_IMAGE = (IMAGES, SEMANTIC, DEPTH, NORMALS)
"""Folders of one file per image index (`000003.png`, depth also `000003.npy`)."""
FINISHED = (ANNOTATIONS, MANIFEST, *(f for f in EXPORTS if f != "coco"))
"""Written by `finalize` once every image is done: the complete dataset."""
INDEX_SUFFIXES = (".png", ".npy", ".json")
STATE_BYTES = 2**20


@dataclass
class Owned:
    """The marker: top-level `entries` a run created, and `images` (indices 0..images-1 it may have written)."""

    entries: set[str] = field(default_factory=set)
    images: int = 0

    @classmethod
    def read(cls, out: Path) -> Owned | None:
        """The marker of `out`; None when there is none; an OutputError when it is not one synthgen wrote."""
        path = out / STATE / OWNED
        if not (path.exists() or path.is_symlink()):
            return None
        data = _read_json(path)
        entries, images = (data.get("entries"), data.get("images")) if isinstance(data, dict) else (None, None)
        known = {*PER_IMAGE, *FINISHED}
        if not (isinstance(entries, list) and all(isinstance(e, str) and e in known for e in entries) and type(images) is int and images >= 0):
            raise OutputError(f"{path}: not a synthgen marker (expected entries from {', '.join((*PER_IMAGE, *FINISHED))} and images >= 0)")
        return cls(set(entries), images)

    def write(self, out: Path) -> None:
        atomic_write_json(out / STATE / OWNED, {"entries": sorted(self.entries), "images": self.images})


def recipe_lock(recipe: Recipe) -> dict:
    """What `.synthgen/lock.json` holds: the recipe a folder's images belong to."""
    return {"recipe_name": recipe.name, "recipe_hash": recipe.content_hash(), "seed": recipe.seed}


def run_entries(recipe: Recipe) -> set[str]:
    """The top-level entries a run of `recipe` writes."""
    entries = {IMAGES, SEMANTIC, ANNOTATIONS, MANIFEST, *(f for f in recipe.output.formats if f != "coco")}
    if recipe.output.depth:
        entries.add(DEPTH)
    if recipe.output.normals:
        entries.add(NORMALS)
    return entries


def read_lock(out: Path) -> dict | None:
    """The recipe lock of `out`, None when there is none."""
    path = out / STATE / LOCK
    return _read_json(path) if path.exists() or path.is_symlink() else None


def _read_json(path: Path) -> object:
    """A small state file synthgen wrote; anything else (a FIFO, a huge or binary file) is refused."""
    problem = "not a regular file" if path.is_symlink() or not path.is_file() else "over 1 MiB" if path.stat().st_size > STATE_BYTES else None
    if problem is None:
        try:
            return json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError):
            problem = "not JSON"
    raise OutputError(f"{path}: not a synthgen state file ({problem}); move the folder away or choose another")


def legacy_owned(out: Path) -> Owned:
    """The marker of a folder written before markers existed: its layout entries and recorded indices."""
    records = [int(p.stem) for p in (out / STATE / RECORDS).glob("*.json") if p.stem.isdigit()]
    return Owned({name for name in (*PER_IMAGE, *FINISHED) if (out / name).exists()}, max(records, default=-1) + 1)


def remove_finished(out: Path, owned: Owned) -> None:
    """Delete the finished dataset's files (annotations, manifest, exports) that synthgen wrote."""
    for name in FINISHED:
        if name in owned.entries:
            _remove_entry(out / name)


def remove_images(out: Path, owned: Owned, start: int) -> None:
    """Delete synthgen's per-image files and records of indices `start`..`owned.images - 1`, and
    interrupted atomic writes (`.NAME.*.tmp`) beside them; folders left empty go too."""
    folders = [out / name for name in PER_IMAGE if name in owned.entries] + [out / STATE / RECORDS]
    for folder in folders:
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in folder.iterdir():
            if _is_index_file(path.name, start, owned.images) or (path.name.startswith(".") and path.name.endswith(".tmp")):
                path.unlink()
        if folder.parent == out and not any(folder.iterdir()):
            folder.rmdir()


def _is_index_file(name: str, start: int, stop: int) -> bool:
    """`name` is `NNNNNN.png`, `.npy` or `.json` with start <= NNNNNN < stop."""
    stem, _, suffix = name.partition(".")
    return f".{suffix}" in INDEX_SUFFIXES and len(stem) == 6 and stem.isdigit() and start <= int(stem) < stop


def _remove_entry(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold `out/.synthgen/run.lock` (fcntl.flock; it holds the holder's pid) while the block runs; a second holder is refused."""
    state = out / STATE
    state.mkdir(parents=True, exist_ok=True)
    handle = os.open(state / RUN_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 16, 0).decode("ascii", "replace").strip()
            pid = holder if holder.isdigit() else "unknown"
            raise OutputError(f"{out}: another synthgen render (pid {pid}) is writing this folder; wait for it or choose another folder") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(handle, 0)  # empty when free, so finished folders compare byte for byte
    finally:
        os.close(handle)
