"""A run's output folder: claim it for a recipe, track finished images, assemble the dataset.

Each finished image leaves `images/`, `semantic/` and, written last, a record in
`.synthgen/samples/<index>.json`; an image counts as done only when its record exists. So a run
killed at any moment resumes where it stopped and ends with the same dataset.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen import __version__
from synthgen.errors import OutputError
from synthgen.fileio import atomic_write_json
from synthgen.formats import EXPORTS
from synthgen.formats.folder import write_labels
from synthgen.labels import Dataset, Sample, categories_from_names, instances_per_class
from synthgen.layout import ANNOTATIONS, DEPTH, IMAGES, MANIFEST, NORMALS, SEMANTIC, STATE
from synthgen.recipe import Recipe
from synthgen.render.trust import summarize

LOCK = "lock.json"
RECORDS = "samples"
LAYOUT_ENTRIES = (IMAGES, SEMANTIC, ANNOTATIONS, MANIFEST, STATE, DEPTH, NORMALS, *(f for f in EXPORTS if f != "coco"))


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


def claim(out: Path, recipe: Recipe, overwrite: bool = False) -> RunOutput:
    """Make `out` ready for `recipe`: new, resumed (same recipe), or cleared with `overwrite`."""
    output = RunOutput(out)
    lock_path = output.lock
    lock = {"recipe_name": recipe.name, "recipe_hash": recipe.content_hash(), "seed": recipe.seed}
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        existing = json.loads(lock_path.read_text()) if lock_path.exists() else None
        if existing == lock:
            return output
        if not overwrite:
            what = (
                f"a dataset of recipe {existing['recipe_name']!r} (hash {existing['recipe_hash']}, seed {existing['seed']})"
                if existing
                else "files that are not a synthgen run"
            )
            raise OutputError(f"{out}: holds {what}; choose another folder or pass --overwrite")
        for name in LAYOUT_ENTRIES:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    atomic_write_json(lock_path, lock)
    return output


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
