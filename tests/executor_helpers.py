"""Shared by the executor tests: a tiny recipe, dataset bytes, Ray settings and real process kills (psutil)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from paths import MUG

from synthgen.recipe import Recipe, load_recipe
from synthgen.render.run import render_dataset

# Every Ray process the tests start (drivers, nodes, CLI runs) must agree on these; see docs/distributed.md.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
RENDER_WORKER = "ray::render_on_worker"  # a Ray worker's process title while it renders an image


def write_recipe(folder: Path, count: int = 6, seed: int = 2, broken_asset: bool = False, resources: dict | None = None) -> Path:
    """A tiny recipe (64x48, Cycles, 16 samples): one mug from an asset folder and a cone per image.

    An image takes a few tenths of a second: long enough for a test to kill a worker mid-image.

    With `broken_asset`, the folder also holds a PLY file Blender cannot import, so exactly the
    images that draw it fail (with seed 2: some, not all).
    """
    assets = folder / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "c"):
        shutil.copy(MUG, assets / f"{name}.obj")
    if broken_asset:
        (assets / "broken.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\nnot numbers\n")
    recipe = {
        "version": 1, "name": "tiny", "seed": seed, "count": count, "backend": "blender",
        "image": {"width": 64, "height": 48}, "render": {"engine": "cycles", "samples": 16},
        "classes": [{"name": "mug", "asset": "assets", "count": 1}, {"name": "cone", "primitive": "cone"}],
        "output": {"formats": ["coco", "yolo"]},
    }
    if resources:
        recipe["resources"] = resources
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def dataset_bytes(root: Path) -> dict[str, bytes]:
    """Every file of a dataset but the run's timings (manifest.json) and its resume state (.synthgen/)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "manifest.json" and ".synthgen" not in path.relative_to(root).parts
    }


def render_reference(recipe: Recipe, out: Path) -> dict[str, bytes]:
    """The dataset the local executor makes in this process: what every other run must equal."""
    result = render_dataset(recipe, out)
    assert result.complete, result.failures
    return dataset_bytes(out)


@pytest.fixture(scope="module")
def ray_env():
    """RAY_ENV for this test module (and the processes it starts)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in RAY_ENV.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A six-image tiny recipe shared by the tests of one module."""
    return load_recipe(write_recipe(tmp_path_factory.mktemp("recipe"), count=6))


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory):
    """The bytes of `recipe` rendered by the in-process executor."""
    return render_reference(recipe, tmp_path_factory.mktemp("reference") / "out")


def records(out: Path) -> int:
    """How many images of a run are finished."""
    folder = out / ".synthgen" / "samples"
    return len(list(folder.glob("*.json"))) if folder.exists() else 0


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first `times` processes under `root_pid` whose title starts with `title`."""

    def __init__(self, root_pid: int, title: str = RENDER_WORKER, times: int = 1, timeout: float = 120):
        import psutil

        super().__init__(daemon=True)
        self.root, self.title, self.times, self.timeout = psutil.Process(root_pid), title, times, timeout
        self.killed: list[int] = []

    def run(self) -> None:
        import psutil

        deadline = time.monotonic() + self.timeout
        while len(self.killed) < self.times and time.monotonic() < deadline:
            for process in self.root.children(recursive=True):
                try:
                    if process.pid not in self.killed and process.cmdline()[:1] == [self.title]:
                        process.send_signal(signal.SIGKILL)
                        self.killed.append(process.pid)
                        break
                except psutil.Error:
                    continue
            time.sleep(0.02)


def synthgen(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the `synthgen` command to the end."""
    return subprocess.run([sys.executable, "-m", "synthgen.cli", *args], capture_output=True, text=True, timeout=timeout)


def kill_run_after(args: list[str], out: Path, done: int, timeout: float = 180, count=records) -> int:
    """Start `synthgen ARGS`; once `done` things are finished (`count(out)`: images by default),
    SIGKILL it and every process it started.

    Returns how many were finished when it died.
    """
    import psutil

    process = subprocess.Popen([sys.executable, "-m", "synthgen.cli", *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while count(out) < done:
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "the run did not reach the kill point in time"
        time.sleep(0.02)
    family = _freeze_family(process.pid)
    for member in family:
        member.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"processes outlived the kill: {alive}"
    return count(out)


def _freeze_family(pid: int) -> list:
    """SIGSTOP a process and all its descendants, until none is left running to start more; return them."""
    import psutil

    frozen: dict[int, psutil.Process] = {}
    while True:
        root = psutil.Process(pid)
        new = [p for p in (root, *root.children(recursive=True)) if p.pid not in frozen]
        if not new:
            return list(frozen.values())
        for process in new:
            try:
                process.send_signal(signal.SIGSTOP)
                frozen[process.pid] = process
            except psutil.NoSuchProcess:
                continue
