"""A run's output folder: claim it for a recipe, track finished images, assemble the dataset.

Each finished image leaves `images/`, `semantic/` and, written last, a record in
`.synthgen/samples/<index>.json`; an image counts as done only when its record exists. So a run
killed at any moment resumes where it stopped and ends with the same dataset. One run at a time
holds a folder (`ownership.run_lock`), and a run deletes only what synthgen wrote there.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen import __version__
from synthgen.errors import OutputError
from synthgen.fileio import atomic_write_json
from synthgen.formats.folder import write_labels
from synthgen.labels import Dataset, Sample, categories_from_names, instances_per_class
from synthgen.layout import MANIFEST, STATE
from synthgen.recipe import Recipe
from synthgen.render.ownership import (
    LOCK,
    RECORDS,
    RUN_LOCK,
    Owned,
    legacy_owned,
    read_lock,
    recipe_lock,
    remove_finished,
    remove_images,
    run_entries,
    run_lock,
)
from synthgen.render.trust import summarize


@dataclass(frozen=True)
class RunOutput:
    """Paths of a run's output folder."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / STATE / LOCK

    @property
    def records(self) -> Path:
        return self.root / STATE / RECORDS

    def record_path(self, index: int) -> Path:
        return self.records / f"{index:06d}.json"

    def is_done(self, index: int) -> bool:
        return self.record_path(index).exists()

    def pending(self, count: int) -> list[int]:
        return [i for i in range(count) if not self.is_done(i)]

    def write_record(self, index: int, record: dict[str, Any]) -> None:
        atomic_write_json(self.record_path(index), record, indent=None)

    def read_record(self, index: int) -> dict[str, Any]:
        return json.loads(self.record_path(index).read_text())


@contextmanager
def claimed(out: Path, recipe: Recipe, overwrite: bool = False) -> Iterator[RunOutput]:
    """Make `out` ready for `recipe` and hold its run lock while the block renders into it.

    New, resumed (same recipe: a changed `count` first drops the finished dataset and the images
    beyond the new count), or with `overwrite` cleared of what an earlier run wrote (see
    `ownership`). Nothing synthgen did not write is deleted: where the run would write over such
    files, the folder is refused, and refused before anything is written into it.
    """
    _refuse_unusable(out)
    _plan(out, recipe, overwrite)
    with run_lock(out):
        owned, same = _plan(out, recipe, overwrite)
        output = RunOutput(out)
        _prepare(output, recipe, owned, same)
        yield output


def claim(out: Path, recipe: Recipe, overwrite: bool = False) -> RunOutput:
    """`claimed`, releasing the run lock once the folder is ready (for tools that render into it later)."""
    with claimed(out, recipe, overwrite) as output:
        return output


def _refuse_unusable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    for state in (out / STATE, out / STATE / RECORDS):
        if state.is_symlink():
            raise OutputError(f"{state}: is a link; synthgen keeps its run state in a real folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{out}: {parent} is a file, not a folder")
            return


def _plan(out: Path, recipe: Recipe, overwrite: bool) -> tuple[Owned, bool]:
    """What synthgen wrote in `out`, and whether it holds a run of this recipe; refuses what it must not touch."""
    if not _has_content(out):
        return Owned(), False
    existing = read_lock(out)
    if existing is not None and not isinstance(existing, dict):
        raise OutputError(f"{out / STATE / LOCK}: not a synthgen recipe lock; move the folder away or choose another")
    owned = Owned.read(out) or (legacy_owned(out) if existing else Owned())
    same = existing == recipe_lock(recipe)
    if not same and not overwrite:
        what = (
            f"a dataset of recipe {existing.get('recipe_name')!r} (hash {existing.get('recipe_hash')}, seed {existing.get('seed')})"
            if existing
            else "files that are not a synthgen run"
        )
        raise OutputError(f"{out}: holds {what}; choose another folder or pass --overwrite")
    links = sorted(name for name in run_entries(recipe) if (out / name).is_symlink())
    if links:
        raise OutputError(f"{out / links[0]}: is a link; synthgen writes only into real files and folders of its output")
    foreign = sorted(name for name in run_entries(recipe) if name not in owned.entries and _present(out / name))
    if foreign:
        raise OutputError(f"{out / foreign[0]}: not written by synthgen, and this run would write there; move it away or choose another folder")
    return owned, same


def _has_content(out: Path) -> bool:
    """Anything in `out` but an empty run state (a lone run lock)."""
    if not out.is_dir():
        return False
    state = out / STATE
    return any(p.name != STATE for p in out.iterdir()) or (state.is_dir() and any(p.name != RUN_LOCK for p in state.iterdir()))


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _prepare(output: RunOutput, recipe: Recipe, owned: Owned, same: bool) -> None:
    """Delete what this run replaces (all of an earlier recipe's files, or a resumed run's finished
    dataset and images beyond its count), then mark what the run will write and lock the recipe."""
    out = output.root
    if not same or owned.images != recipe.count or output.pending(recipe.count):
        remove_finished(out, owned)
    remove_images(out, owned, start=recipe.count if same else 0)
    if not same and output.records.is_dir():
        shutil.rmtree(output.records)
    Owned((owned.entries if same else set()) | run_entries(recipe), recipe.count).write(out)
    atomic_write_json(output.lock, recipe_lock(recipe))


def finalize(output: RunOutput, recipe: Recipe, timings: dict[str, float]) -> Dataset:
    """Assemble annotations.json, exports and manifest.json from the records of images 0..count-1."""
    samples = [Sample.from_dict(output.read_record(i)["sample"]) for i in range(recipe.count)]
    for position, sample in enumerate(samples, start=1):
        sample.id = position
    dataset = Dataset(
        categories=categories_from_names(recipe.class_names),
        samples=samples,
        root=str(output.root),
        info={"description": f"synthgen recipe {recipe.name}", "version": __version__},
    )
    write_labels(dataset, output.root, recipe.output.formats, semantic=False)
    counts = instances_per_class(samples, recipe.class_names)
    manifest = {
        "recipe": recipe.model_dump(mode="json"),
        "recipe_file": str(recipe.source) if recipe.source else None,
        "recipe_hash": recipe.content_hash(),
        "images": len(samples),
        "instances": sum(counts.values()),
        "instances_per_class": counts,
        "timings": timings,
        **({"devices": devices} if (devices := devices_used(samples)) else {}),
        **({"trust": trust} if (trust := summarize(samples)) else {}),
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(output.root / MANIFEST, manifest)
    return dataset


def devices_used(samples: list[Sample]) -> dict[str, int]:
    """Images per render device (`cpu`, `optix: NVIDIA H200`, ...), from each image's provenance."""
    counts: dict[str, int] = {}
    for sample in samples:
        if device := sample.provenance.extra.get("device"):
            counts[device] = counts.get(device, 0) + 1
    return dict(sorted(counts.items()))


def versions() -> dict[str, str]:
    """Versions of synthgen and the packages that decide the pixels and labels."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"synthgen": __version__}
    for package in ("bpy", "numpy", "pycocotools", "OpenEXR", "pillow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
