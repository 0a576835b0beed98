"""What the readers' tests compare with: the labels of a dataset folder's `annotations.json`, read as
plain JSON (not through synthgen), per image file: `[class, x, y, w, h, area]` in pixels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mixing_helpers import write_dataset
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.labels import Provenance


def expected_objects(dataset: Path) -> dict[str, list[list]]:
    """{image file name: [[class, x, y, w, h, area], ...] in annotation order}."""
    coco = json.loads((dataset / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    objects: dict[str, list[list]] = {name: [] for name in files.values()}
    for ann in coco["annotations"]:
        objects[files[ann["image_id"]]].append([names[ann["category_id"]], *ann["bbox"], ann["area"]])
    return objects


def assert_boxes(read: dict[str, list[list]], expected: dict[str, list[list]], tolerance: float, polygon: bool = False) -> None:
    """Same files, same objects in order, same classes; boxes within `tolerance` pixels. A polygon
    through pixel centres spans one pixel less than the mask's box (`polygon`)."""
    assert sorted(read) == sorted(expected)
    for name, objects in expected.items():
        assert [o[0] for o in read[name]] == [o[0] for o in objects], name
        for got, want in zip(read[name], objects, strict=True):
            shrink = [0, 0, 1, 1] if polygon else [0, 0, 0, 0]
            box = [v - s for v, s in zip(want[1:5], shrink, strict=True)]
            assert got[1:5] == pytest.approx(box, abs=tolerance), (name, got, want)


def moved_copy(dataset: Path, target: Path) -> Path:
    """A copy of the dataset folder somewhere else (relative links kept as links): as if moved."""
    shutil.copytree(dataset, target, symlinks=True)
    return target


def write_mix(tmp_path: Path, *args: str) -> tuple[Path, str]:
    """A mix output (train/ val/ test/ of small real and synthetic datasets) at tmp_path/mixed, and
    what `synthgen mix` printed."""
    real = write_dataset(tmp_path / "real", ["forklift", "pallet"], [["pallet"]] * 8 + [["forklift", "pallet"]] * 2, Provenance(source="human"), seed=1)
    synth = write_dataset(tmp_path / "synth", ["forklift"], [["forklift"]] * 4, Provenance(source="render"), seed=2)
    out = tmp_path / "mixed"
    result = CliRunner().invoke(app, ["mix", str(real), str(synth), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return out, result.output
