"""Real Blender renders: exact labels, external readers, determinism, resume, output folder rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from executor_helpers import synthgen
from paths import REPO
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from recipes import write_recipe
from rich.console import Console

from synthgen.errors import OutputError
from synthgen.formats.check import check_dataset
from synthgen.formats.folder import load_dataset
from synthgen.recipe import load_recipe
from synthgen.render.run import render_dataset

SYNTHGEN = [sys.executable, "-m", "synthgen.cli"]


def folder_bytes(folder: Path, skip=("manifest.json",)) -> dict[str, bytes]:
    """Every file under `folder` (links as their target text), keyed by relative path."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if path.name in skip or relative.startswith(".synthgen/samples"):
            continue
        if path.is_symlink():
            files[relative] = os.readlink(path).encode()
        elif path.is_file():
            files[relative] = path.read_bytes()
    return files


def test_layout_and_strict_check(rendered_dataset):
    names = {p.name for p in rendered_dataset.iterdir()}
    assert {"images", "semantic", "annotations.json", "manifest.json", "yolo", "yolo-seg", ".synthgen"} <= names
    assert sorted(p.name for p in (rendered_dataset / "images").iterdir()) == [f"{i:06d}.png" for i in range(4)]
    report = check_dataset(rendered_dataset)
    assert report.ok, report.problems
    assert report.images == 4 and report.categories == 2


def test_labels_are_exact(rendered_dataset):
    dataset = load_dataset(rendered_dataset)
    recipe_max = {"mug": 2, "cone": 1}
    assert dataset.class_names == ["mug", "cone"]
    total = 0
    for sample in dataset.samples:
        assert Image.open(rendered_dataset / sample.file_name).size == (64, 48)
        semantic = np.array(Image.open(rendered_dataset / "semantic" / Path(sample.file_name).name))
        union = np.zeros((48, 64), dtype=int)
        for instance in sample.instances:
            mask = instance.decode_mask()
            ys, xs = np.nonzero(mask)
            assert instance.box == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
            assert instance.area == mask.sum() >= 4
            assert instance.category in recipe_max
            assert (semantic[mask] == dataset.category_id(instance.category)).all()
            union += mask
        assert union.max() <= 1  # visible masks are disjoint
        assert ((semantic > 0) == (union > 0)).all()
        counts = {name: sum(i.category == name for i in sample.instances) for name in recipe_max}
        assert all(counts[name] <= recipe_max[name] for name in counts)
        assert sample.provenance.source == "render" and sample.provenance.backend == "blender"
        assert sample.provenance.index == int(Path(sample.file_name).stem)
        total += len(sample.instances)
    assert total >= 4
    manifest = json.loads((rendered_dataset / "manifest.json").read_text())
    assert manifest["instances"] == total and manifest["images"] == 4
    assert manifest["versions"]["bpy"] == "4.5.15"


def test_instance_masks_match_what_the_scene_placed(rendered_dataset):
    """Every drawn object that is labelled comes from the Scene that sample() decided."""
    from synthgen.render.sampling import sample

    recipe = load_recipe(rendered_dataset.parent / "tiny.yaml")
    for s in load_dataset(rendered_dataset).samples:
        scene = sample(recipe, s.provenance.index)
        drawn = [o.category for o in scene.objects]
        assert all(drawn.count(name) >= [i.category for i in s.instances].count(name) for name in set(drawn))


def test_cocoeval_of_ground_truth_against_itself_is_perfect(rendered_dataset):
    ground_truth = COCO(str(rendered_dataset / "annotations.json"))
    detections = [
        {**a, "score": 1.0} for a in json.loads((rendered_dataset / "annotations.json").read_text())["annotations"]
    ]
    for kind in ("bbox", "segm"):
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), kind)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0), kind


def test_yolo_export_read_independently(rendered_dataset):
    """Parse the YOLO files by hand (not with our reader) and compare with the COCO boxes."""
    coco = json.loads((rendered_dataset / "annotations.json").read_text())
    data = yaml.safe_load((rendered_dataset / "yolo" / "data.yaml").read_text())
    assert data["names"] == {0: "mug", 1: "cone"}
    for image in coco["images"]:
        stem = Path(image["file_name"]).stem
        assert Image.open(rendered_dataset / "yolo" / "images" / f"{stem}.png").size == (64, 48)
        lines = (rendered_dataset / "yolo" / "labels" / f"{stem}.txt").read_text().splitlines()
        expected = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert len(lines) == len(expected)
        for line, ann in zip(lines, expected, strict=True):
            cls, cx, cy, w, h = line.split()
            assert int(cls) == ann["category_id"] - 1
            x, y, bw, bh = ann["bbox"]
            assert float(cx) == pytest.approx((x + bw / 2) / 64, abs=1e-6)
            assert float(h) == pytest.approx(bh / 48, abs=1e-6)
        seg_lines = (rendered_dataset / "yolo-seg" / "labels" / f"{stem}.txt").read_text().splitlines()
        assert len(seg_lines) == len(expected)
        for line in seg_lines:
            values = [float(v) for v in line.split()[1:]]
            assert len(values) >= 6 and len(values) % 2 == 0 and all(0 <= v <= 1 for v in values)


def test_same_recipe_gives_same_bytes_in_another_process_and_with_two_workers(rendered_dataset, tmp_path):
    recipe_file = rendered_dataset.parent / "tiny.yaml"
    subprocess.run([*SYNTHGEN, "render", str(recipe_file), "-o", str(tmp_path / "again"), "--workers", "2", "-q"], check=True)
    assert folder_bytes(tmp_path / "again") == folder_bytes(rendered_dataset)


def test_resume_after_sigkill_gives_the_uninterrupted_dataset(tmp_path):
    recipe_file = write_recipe(tmp_path, count=8)
    out = tmp_path / "killed"
    command = [*SYNTHGEN, "render", str(recipe_file), "-o", str(out), "-q"]
    process = subprocess.Popen(command)
    records = out / ".synthgen" / "samples"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(records.glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(records.glob("*.json")))
    assert 2 <= done_before < 8, "the kill must land mid-run"
    assert not (out / "annotations.json").exists()
    result = subprocess.run([*SYNTHGEN, "render", str(recipe_file), "-o", str(out), "--log", "json"], capture_output=True, text=True, check=True)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["resumed"] == done_before and summary["rendered"] == 8 - done_before and summary["complete"]
    assert not list(out.rglob("*.tmp"))
    subprocess.run([*SYNTHGEN, "render", str(recipe_file), "-o", str(tmp_path / "whole"), "-q"], check=True)
    assert folder_bytes(out) == folder_bytes(tmp_path / "whole")


def test_output_folder_rules(tmp_path, rendered_dataset):
    other = load_recipe(write_recipe(tmp_path, seed=99, count=1))
    with pytest.raises(OutputError, match=r"holds a dataset of recipe 'tiny' \(hash [0-9a-f]+, seed 3\); choose another folder or pass --overwrite"):
        render_dataset(other, rendered_dataset)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files that are not a synthgen run"):
        render_dataset(other, stranger)
    result = render_dataset(other, stranger, overwrite=True)
    assert result.complete and (stranger / "notes.txt").read_text() == "mine"
    assert load_dataset(stranger).samples[0].provenance.seed == 99


def test_extending_a_finished_run_renders_only_new_images(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=1))
    render_dataset(recipe, tmp_path / "out")
    result = render_dataset(recipe.with_overrides(count=2), tmp_path / "out")
    assert (result.resumed, result.rendered) == (1, 1)
    assert len(load_dataset(tmp_path / "out").samples) == 2


def test_bad_asset_fails_that_image_and_writes_no_dataset(tmp_path):
    broken = tmp_path / "broken.obj"
    broken.write_text("this is not an obj file\n")
    recipe = load_recipe(write_recipe(tmp_path, count=2, classes=[{"name": "x", "asset": str(broken)}]))
    result = render_dataset(recipe, tmp_path / "out")
    assert not result.complete and sorted(result.failures) == [0, 1]
    assert "broken.obj: holds no mesh geometry" in result.failures[0]
    assert not (tmp_path / "out" / "annotations.json").exists()


def test_workbench_engine_gives_exact_labels(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=1, render={"engine": "workbench"}))
    result = render_dataset(recipe, tmp_path / "out")
    assert result.complete and check_dataset(tmp_path / "out").ok
    assert load_dataset(tmp_path / "out").samples[0].provenance.engine == "workbench"


# Diffusion examples name hub models; tests/test_diffusion.py renders them with tiny local models swapped in.
BLENDER_SCENES = sorted(p for p in (REPO / "scenes").glob("*.yaml") if "backend: diffusion" not in p.read_text())


@pytest.mark.parametrize("recipe_file", BLENDER_SCENES, ids=lambda p: p.stem)
def test_every_example_scene_renders(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file).with_overrides(count=2)
    result = render_dataset(recipe, tmp_path / "out")
    assert result.complete, result.failures
    report = check_dataset(tmp_path / "out")
    assert report.ok and report.images == 2, report.problems


def test_pool_workers_start_blender_when_this_process_already_has_it(tmp_path):
    """A spawned worker inherits sys.path with Blender's script folders; it must still import bpy."""
    import bpy  # noqa: F401  (the parent has Blender loaded, as after any in-process render)

    recipe = load_recipe(write_recipe(tmp_path, count=2))
    result = render_dataset(recipe, tmp_path / "out", workers=2)
    assert result.complete, result.failures
    assert result.rendered == 2


def test_progress_rate_is_images_done_over_wall_time(monkeypatch):
    """Results arriving in a burst (3 images at once after 20 s, as Ray delivers them) show the real rate."""
    from synthgen.cli import render as render_cli

    clock = iter([100.0, 120.27, 120.27, 120.28])
    monkeypatch.setattr(render_cli.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(render_cli, "console", Console(stderr=True, force_terminal=True))  # bars are drawn on terminals only
    reporter = render_cli._Reporter(12, quiet=False, json_log=False)
    for index in range(3):
        reporter.advance(index, None)
    fields = reporter.progress.tasks[0].fields
    assert (reporter.progress.tasks[0].completed, fields) == (3, {"rate": "0.148 img/s", "eta": "ETA 0:01:01"})
    assert render_cli.rate_and_eta(0, 12, 5.0) == {"rate": "", "eta": ""}
    assert render_cli.rate_and_eta(12, 12, 3600.0) == {"rate": "0.00333 img/s", "eta": "ETA 0:00:00"}


def test_a_run_refused_before_rendering_prints_its_error_line_and_no_bar(tmp_path):
    """Not a terminal (a log, CI): no bar at all; the refusal is the only line on stderr."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    done = synthgen("render", str(write_recipe(tmp_path, count=1)), "-o", str(tmp_path / "mine"))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error: {tmp_path / 'mine'}: holds files that are not a synthgen run; choose another folder or pass --overwrite\n"
