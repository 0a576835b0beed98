"""Real signals to real `synthgen render` processes: Ctrl-C stops a run with exit 130 and a folder
that resumes (in this process's Blender, during a long render, and with a pool of workers); workers
die with their parent when it is killed or terminated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from executor_helpers import write_recipe

from synthgen.formats.check import check_dataset
from synthgen.recipe import load_recipe
from synthgen.render.run import render_dataset
from synthgen.render.run_folder import claim

pytestmark = pytest.mark.slow
HANG_GUARD = 120  # seconds; a run that swallowed the signal would go on far longer


@pytest.fixture(autouse=True)
def ctrl_c_reaches_the_renders():
    """A suite started in the background of a shell without job control inherits SIGINT ignored, and
    so would the renders it starts (Python then never turns Ctrl-C into KeyboardInterrupt). With a
    Python handler here, they start with the default action instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def start(recipe: Path, out: Path, *flags: str, env: dict | None = None) -> subprocess.Popen:
    """`synthgen render` in its own session (so a signal to its process group reaches it as a terminal's would)."""
    command = [sys.executable, "-m", "synthgen.cli", "render", str(recipe), "-o", str(out), "-q", *flags]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True, env={**os.environ, **(env or {})})


def records(out: Path) -> int:
    return len(list((out / ".synthgen" / "samples").glob("*.json")))


def end(processes: list[psutil.Process]) -> None:
    """Kill what a failed test left running (by pid, the processes this test started)."""
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def wait_until(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def test_ctrl_c_stops_an_in_process_render_with_130_and_the_folder_resumes(tmp_path):
    recipe_file = write_recipe(tmp_path, count=12)
    out = tmp_path / "out"
    process = start(recipe_file, out)
    wait_until(lambda: records(out) >= 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 130
    assert err.splitlines() == [f"error: {out}: interrupted; run the same command again to resume"]
    done = records(out)
    assert 2 <= done < 12 and not (out / "annotations.json").exists()
    result = render_dataset(load_recipe(recipe_file), out)
    assert (result.resumed, result.rendered, result.complete) == (done, 12 - done, True)
    assert check_dataset(out).ok


def test_ctrl_c_during_a_long_blender_render_stops_it_at_once(tmp_path):
    """One 640x480 image at 4096 samples renders for minutes; Ctrl-C ends the process mid-render."""
    recipe_file = write_recipe(tmp_path, count=1)
    data = yaml.safe_load(recipe_file.read_text())
    data.update(image={"width": 640, "height": 480}, render={"engine": "cycles", "samples": 4096})
    recipe_file.write_text(yaml.safe_dump(data))
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    scratch.mkdir()
    process = start(recipe_file, out, env={"TMPDIR": str(scratch)})
    wait_until(lambda: any(scratch.iterdir()), process)  # Blender started: its scratch folder is there
    time.sleep(1.0)  # into the render
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 130
    assert err.splitlines()[-1] == "error: interrupted during a Blender call; stopped at once (run the same command again to resume)"
    assert list(scratch.iterdir()) == [] and records(out) == 0
    claim(out, load_recipe(recipe_file))  # the run lock went with the process


def test_ctrl_c_with_two_workers_stops_without_rendering_the_queue(tmp_path):
    recipe_file = write_recipe(tmp_path, count=30)
    out = tmp_path / "out"
    process = start(recipe_file, out, "--workers", "2")
    wait_until(lambda: records(out) >= 2, process)
    workers = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    try:
        _, err = process.communicate(timeout=HANG_GUARD)
        assert psutil.wait_procs(workers, timeout=HANG_GUARD)[1] == []
    finally:
        end([psutil.Process(process.pid)] if process.poll() is None else [])
        end(workers)
    assert process.returncode == 130
    assert err.splitlines() == [f"error: {out}: interrupted; run the same command again to resume"]
    assert records(out) < 30 and not (out / "annotations.json").exists()


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_workers_die_with_their_parent(kill, tmp_path):
    recipe_file = write_recipe(tmp_path, count=30)
    out = tmp_path / "out"
    process = start(recipe_file, out, "--workers", "2")
    wait_until(lambda: records(out) >= 1, process)
    workers = psutil.Process(process.pid).children(recursive=True)
    assert len(workers) >= 2
    at_kill = records(out)
    process.send_signal(kill)
    process.wait(timeout=HANG_GUARD)
    try:
        assert psutil.wait_procs(workers, timeout=HANG_GUARD)[1] == []
    finally:
        end(workers)
    # Orphans would finish their images and the ones queued in the pipe (2 or more); at most one
    # record can land in the instant between counting and the kill.
    assert records(out) - at_kill <= 1
