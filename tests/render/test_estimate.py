"""`synthgen estimate`: real sample renders, disk per image equal to a real run's, projections, no leftovers."""

from __future__ import annotations

import json
import math
import re

from helpers import invoke
from recipes import write_recipe

from synthgen.recipe import load_recipe
from synthgen.render.estimate import Estimate, estimate
from synthgen.render.run import render_dataset


def test_disk_per_image_is_what_a_real_run_of_those_images_writes(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=2))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    found = estimate(recipe, count=10, workers=3, images=2, scratch=scratch)
    assert list(scratch.iterdir()) == []  # the sample run is removed
    assert render_dataset(recipe, tmp_path / "real").complete
    kept = [p for p in (tmp_path / "real").rglob("*") if p.is_file() and p.name != "manifest.json" and ".synthgen" not in p.parts]
    assert {p.parent.name for p in kept} >= {"images", "semantic", "yolo", "labels"}
    written = sum(p.stat().st_size for p in kept)
    assert found.bytes_per_image == round(written / 2)
    assert (found.count, found.workers, found.sampled, found.images_per_worker, found.device) == (10, 3, 2, 4, "cpu")
    assert found.disk_bytes == 10 * found.bytes_per_image
    assert found.seconds_per_image > 0 and found.startup_seconds > 0
    assert found.seconds_per_worker == found.startup_seconds + 4 * found.seconds_per_image


def test_projection_arithmetic():
    found = Estimate(count=1001, workers=4, threads=1, sampled=3, seconds_per_image=2.0, startup_seconds=5.0, bytes_per_image=1000, device="cpu")
    assert found.images_per_worker == 251 == math.ceil(1001 / 4)
    assert found.seconds_per_worker == 5.0 + 251 * 2.0
    assert found.disk_bytes == 1_001_000
    assert found.to_dict() == {
        "count": 1001, "workers": 4, "threads_per_worker": 1, "sampled": 3, "device": "cpu", "seconds_per_image": 2.0,
        "startup_seconds": 5.0, "bytes_per_image": 1000, "images_per_worker": 251, "wall_seconds": 507.0, "disk_bytes": 1_001_000,
    }


def test_the_command_prints_per_image_and_whole_run_costs(tmp_path):
    path = write_recipe(tmp_path, render={"quality": "draft"})
    result = invoke("estimate", path, "--count", 500, "--workers", 2, "--images", 1)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        rf"{re.escape(str(path))}: 1 sample images, 64x48, blender \(cycles, quality draft: 4 samples max\), device cpu, \d+ threads per worker",
        lines[0],
    )
    assert re.fullmatch(r"  per image:   \d+\.\d\d s, \d+\.\d KiB \(Blender start: \d+\.\d s per worker\)", lines[1])
    assert re.fullmatch(r"  whole run:   500 images on 2 worker\(s\): 250 images and \d+:\d\d:\d\d per worker \(the wall time\), \d+\.\d MiB on disk", lines[2])
    as_json = invoke("estimate", path, "--count", 500, "--images", 1, "--json")
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert (report["count"], report["workers"], report["images_per_worker"], report["disk_bytes"]) == (500, 1, 500, 500 * report["bytes_per_image"])


def test_bad_count_and_a_missing_gpu_fail_with_one_line(tmp_path):
    path = write_recipe(tmp_path)
    result = invoke("estimate", path, "--count", 0)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1  # the recipe's own --count check
    assert result.output.startswith("error: --count: ") and "0" in result.output
    gpu = write_recipe(tmp_path, "gpu.yaml", render={"device": "gpu"})
    result = invoke("estimate", gpu)
    assert result.exit_code == 1 and result.output.strip().startswith(f"error: {gpu}: render.device: Cycles found no GPU")
