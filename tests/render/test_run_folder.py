"""A run's output folder: the ownership marker, stale files on a lower count, the complete-marker
dropped before extending, the run lock, interrupted writes cleaned on resume (real Blender renders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from executor_helpers import write_recipe as write_asset_recipe
from recipes import write_recipe

from synthgen.errors import OutputError
from synthgen.formats.check import check_dataset
from synthgen.formats.folder import load_dataset
from synthgen.recipe import load_recipe
from synthgen.render.run import render_dataset
from synthgen.render.run_folder import claim, claimed
from synthgen.render.sampling import sample

pytestmark = pytest.mark.slow
EXPORTED = ("coco", "yolo", "yolo-seg", "voc")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_lower_count_removes_the_images_records_and_exports_beyond_it(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=3, output={"formats": list(EXPORTED)}))
    out = tmp_path / "out"
    assert render_dataset(recipe, out).complete
    (out / "images" / "notes.txt").write_text("mine")
    result = render_dataset(recipe.with_overrides(count=1), out)
    assert (result.resumed, result.rendered) == (1, 0)
    assert names(out / "images") == ["000000.png", "notes.txt"]
    assert names(out / "semantic") == ["000000.png"]
    assert names(out / ".synthgen" / "samples") == ["000000.json"]
    for export in ("yolo", "yolo-seg"):
        assert names(out / export / "images") == ["000000.png"] and names(out / export / "labels") == ["000000.txt"]
    assert names(out / "voc" / "Annotations") == ["000000.xml"] and names(out / "voc" / "JPEGImages") == ["000000.png"]
    assert [s.file_name for s in load_dataset(out).samples] == ["images/000000.png"]
    assert json.loads((out / ".synthgen" / "owned.json").read_text()) == {
        "entries": ["annotations.json", "images", "manifest.json", "semantic", "voc", "yolo", "yolo-seg"], "images": 1,
    }


def test_an_extension_that_fails_leaves_no_complete_looking_dataset(tmp_path):
    """Images 0..first-1 render; image `first` draws a mesh Blender cannot import."""
    recipe_file = write_asset_recipe(tmp_path, count=1, broken_asset=True)
    recipe, first = None, 0
    for seed in range(1, 40):
        recipe = load_recipe(recipe_file).with_overrides(seed=seed)
        first = next(i for i in range(40) if any(o.mesh.endswith(".ply") for o in sample(recipe, i).objects))
        if 1 <= first <= 2:
            break
    out = tmp_path / "out"
    assert render_dataset(recipe.with_overrides(count=first), out).complete and check_dataset(out).ok
    result = render_dataset(recipe.with_overrides(count=first + 1), out)
    assert sorted(result.failures) == [first]
    assert [p for p in ("annotations.json", "manifest.json", "yolo") if (out / p).exists()] == []
    assert not check_dataset(out).ok


def test_two_runs_into_one_folder_are_locked_against_each_other(tmp_path):
    recipe_file = write_recipe(tmp_path, count=1)
    recipe, out = load_recipe(recipe_file), tmp_path / "out"
    with claimed(out, recipe):
        with pytest.raises(OutputError, match=rf"^{out}: another synthgen render \(pid \d+\) is writing this folder; wait for it or choose another folder$"):
            claim(out, recipe)
        second = subprocess.run([sys.executable, "-m", "synthgen.cli", "render", str(recipe_file), "-o", str(out), "-q"],
                                capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 1
    assert second.stderr.splitlines() == [f"error: {out}: another synthgen render (pid {os.getpid()}) is writing this folder; wait for it or choose another folder"]
    assert not (out / "images").exists()
    assert render_dataset(recipe, out).complete  # released with the block


def test_resume_removes_interrupted_writes_and_keeps_other_files(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=2))
    out = tmp_path / "out"
    claim(out, recipe)
    (out / "images").mkdir()
    for planted in ("images/.000001.png.k2j4.tmp", ".synthgen/samples/.000001.json.x9.tmp", "images/holiday.png"):
        (out / planted).parent.mkdir(parents=True, exist_ok=True)
        (out / planted).write_bytes(b"partial")
    assert render_dataset(recipe, out).complete
    assert names(out / "images") == ["000000.png", "000001.png", "holiday.png"]
    assert names(out / ".synthgen" / "samples") == ["000000.json", "000001.json"]


def test_a_folder_from_before_markers_is_resumed_and_shrunk(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=2))
    out = tmp_path / "out"
    assert render_dataset(recipe, out).complete
    (out / ".synthgen" / "owned.json").unlink()
    assert render_dataset(recipe.with_overrides(count=1), out).complete
    assert names(out / "images") == ["000000.png"] and names(out / "yolo" / "labels") == ["000000.txt"]
