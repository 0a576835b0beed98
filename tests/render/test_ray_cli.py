"""`synthgen render --executor ray` as a user runs it: resume across executors after a kill, exit codes, flags."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
import typer
import yaml

pytest.importorskip("ray")

from executor_helpers import dataset_bytes, kill_run_after, ray_env, render_reference, synthgen, write_recipe  # noqa: E402
from paths import REPO  # noqa: E402

from synthgen.cli import app  # noqa: E402
from synthgen.recipe import load_recipe  # noqa: E402
from synthgen.render.sampling import sample  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["ray_env"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory):
    return write_recipe(tmp_path_factory.mktemp("recipe"), count=6)


@pytest.fixture(scope="module")
def reference(recipe_path, tmp_path_factory):
    return render_reference(load_recipe(recipe_path), tmp_path_factory.mktemp("reference") / "out")


def summary(stdout: str) -> dict:
    """The summary event of `--log json` (Blender's own output may be mixed in, from in-process renders)."""
    return next(json.loads(line) for line in stdout.splitlines() if line.startswith('{"event": "summary"'))


@pytest.mark.parametrize(("first", "then"), [("local", "ray"), ("ray", "local")])
def test_a_run_killed_midway_is_finished_by_the_other_executor(ray_env, recipe_path, reference, tmp_path, first, then):
    out = tmp_path / "out"
    finished_before_kill = kill_run_after(["render", str(recipe_path), "-o", str(out), "--executor", first, "-q"], out, done=2)
    assert 2 <= finished_before_kill < 6
    finished = synthgen("render", str(recipe_path), "-o", str(out), "--executor", then, "--log", "json")
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = summary(finished.stdout)
    assert (result["resumed"], result["rendered"], result["complete"]) == (finished_before_kill, 6 - finished_before_kill, True)
    assert dataset_bytes(out) == reference


def test_failed_images_are_listed_by_index_and_the_exit_code_says_incomplete(ray_env, tmp_path):
    recipe_path = write_recipe(tmp_path, count=6, broken_asset=True)
    recipe = load_recipe(recipe_path)
    broken = sorted(i for i in range(6) if any(o.mesh.endswith(".ply") for o in sample(recipe, i).objects))
    run = synthgen("render", str(recipe_path), "-o", str(tmp_path / "out"), "--executor", "ray", "--log", "json")
    assert run.returncode == 2, run.stderr[-3000:]
    assert [line.split(":")[1].strip() for line in run.stderr.splitlines() if "error: image " in line] == [f"image {i}" for i in broken]
    assert "AssetError" in run.stderr and f"incomplete: {len(broken)} of 6 images failed" in run.stderr
    assert summary(run.stdout)["rendered"] == 6 - len(broken) and summary(run.stdout)["ray_nodes"] == 1
    assert "Started a local Ray instance." in run.stderr  # --log json keeps Ray's own log lines (on stderr)


RAY_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+\s+(INFO|WARNING) \S+\.py:\d+ -- ")


def test_the_progress_bar_is_not_flooded_by_ray_log_lines(ray_env, tmp_path):
    recipe_path = write_recipe(tmp_path, count=2)
    run = synthgen("render", str(recipe_path), "-o", str(tmp_path / "out"), "--executor", "ray")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [line for line in run.stderr.splitlines() if RAY_LOG_LINE.search(line)] == []
    assert "images per second" in run.stderr and "ray nodes" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "auto", "--max-retries", "1"], "--address, --max-retries: only with --executor ray"),
        (["--executor", "ray", "--workers", "2"], "--workers is for --executor local"),
        (["--executor", "ray", "--memory", "lots"], "--memory: expected a size such as 2GiB"),
    ],
)
def test_ray_flags_are_checked_before_anything_starts(recipe_path, tmp_path, args, message):
    run = synthgen("render", str(recipe_path), "-o", str(tmp_path / "out"), *args)
    assert run.returncode == 1 and message in run.stderr
    assert not (tmp_path / "out").exists()


def test_synthgen_starts_without_importing_ray():
    code = (
        "import sys; from typer.testing import CliRunner; from synthgen.cli import app; "
        "assert CliRunner().invoke(app, ['render', '--help']).exit_code == 0; "
        "import synthgen.render.run, synthgen.render.executors.ray; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_the_kuberay_example_runs_a_command_synthgen_accepts():
    job = yaml.safe_load((REPO / "configs" / "kuberay" / "rayjob.yaml").read_text())
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:2] == ["synthgen", "render"]
    context = typer.main.get_command(app).commands["render"].make_context("render", words[2:])
    assert context.params["executor"].value == "ray" and context.params["address"] == "auto"
