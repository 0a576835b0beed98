"""`synthgen experiment --executor ray` on a real local Ray cluster: the same runs, the same files and
results as the local executor, resume across executors, and the options each executor refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray")

from executor_helpers import kill_run_after, ray_env  # noqa: E402
from helpers import invoke, make_shapes_dataset  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from synthgen.real.experiment import RUN  # noqa: E402
from synthgen.real.experiment_ray import ray_resources  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["ray_env"]  # the fixture, imported for pytest
ARMS = ["real", "real+sim", "sim"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("experiment-inputs")
    make_shapes_dataset(root / "real", 5, seed=1, source="human")
    make_shapes_dataset(root / "test", 4, seed=2, source="human")
    make_shapes_dataset(root / "synth", 5, seed=3, noise=140)
    return {"real": root / "real", "test": root / "test", "synth": root / "synth"}


def arguments(inputs: dict[str, Path], out: Path, seeds: int) -> list:
    return [
        "experiment", "-o", out, "--real", inputs["real"], "--test", inputs["test"], "--synthetic", f"sim={inputs['synth']}",
        "--arms", ",".join(ARMS), "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn", "--steps", 2, "--seeds", seeds,
        "--image-size", 64, "--batch-size", 2, "--device", "cpu", "--threads", 1,
    ]  # fmt: skip


def run_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob(f"runs/*/seed-*/{RUN}"))}


@pytest.fixture(scope="module")
def cluster(ray_env):
    """A real two-node Ray cluster on this machine (1 CPU each): two runs at once."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory) -> Path:
    """The experiment (two seeds) on the local executor, in this process: what Ray must equal."""
    out = tmp_path_factory.mktemp("local") / "exp"
    run = invoke(*arguments(inputs, out, 2), "--workers", 1)
    assert run.exit_code == 0, run.output
    return out


def test_runs_on_ray_equal_the_local_runs_and_resume_across_executors(cluster, inputs, local, tmp_path):
    first = invoke(*arguments(inputs, tmp_path / "ray", 1), "--executor", "ray", "--address", cluster.address)
    assert first.exit_code == 0, first.output
    assert sorted(first.output.splitlines()[:3]) == sorted(f"trained: {arm} seed 0" for arm in ARMS)  # in the order they finished
    assert first.output.splitlines()[3] == f"{tmp_path / 'ray'}: 3 runs trained, 0 kept"
    stamps = {name: (tmp_path / "ray" / name).stat().st_mtime_ns for name in run_files(tmp_path / "ray")}
    second = invoke(*arguments(inputs, tmp_path / "ray", 2), "--workers", 1)  # more seeds, on the local executor
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[:4] == [*(f"trained: {arm} seed 1" for arm in ARMS), f"{tmp_path / 'ray'}: 3 runs trained, 3 kept"]
    assert {name: (tmp_path / "ray" / name).stat().st_mtime_ns for name in stamps} == stamps
    on_ray, on_local = run_files(tmp_path / "ray"), run_files(local)
    assert sorted(on_ray) == sorted(f"runs/{arm}/seed-{seed}/{RUN}" for arm in ARMS for seed in (0, 1))
    assert on_ray == on_local  # byte for byte: same training, same predictions, one thread each
    ray_results, local_results = (json.loads((out / "results.json").read_text()) for out in (tmp_path / "ray", local))
    assert list(ray_results["arms"]) == ARMS and list(ray_results["deltas"]) == ARMS[1:]
    assert ray_results == local_results


def test_an_experiment_killed_on_ray_resumes_on_the_local_executor(ray_env, inputs, local, tmp_path):
    """SIGKILL of the command and its private Ray instance once a run is kept: no process is left,
    no half-written run, and the local executor finishes with the same files."""
    out = tmp_path / "exp"
    done = kill_run_after([*arguments(inputs, out, 2), "--executor", "ray"], out, 1, count=lambda out: len(run_files(out)))
    assert 1 <= done < 6 and not (out / "results.json").exists()
    resumed = invoke(*arguments(inputs, out, 2), "--workers", 1)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.splitlines()[6 - done] == f"{out}: {6 - done} runs trained, {done} kept"
    assert run_files(out) == run_files(local)
    assert (out / "results.json").read_text() == (local / "results.json").read_text()


def test_a_kept_run_is_not_trained_again_on_ray(cluster, inputs, tmp_path):
    out = tmp_path / "exp"
    assert invoke(*arguments(inputs, out, 1), "--workers", 1).exit_code == 0
    again = invoke(*arguments(inputs, out, 1), "--executor", "ray", "--address", cluster.address)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0] == f"{out}: 0 runs trained, 3 kept"


def test_cuda_runs_on_a_cluster_without_gpus_are_refused(cluster, inputs, tmp_path):
    args = [a if a != "cpu" else "cuda" for a in arguments(inputs, tmp_path / "x", 1)]
    run = invoke(*args, "--executor", "ray", "--address", cluster.address)
    assert (run.exit_code, run.output) == (1, "error: --device: expected a Ray cluster with GPUs for cuda runs, one GPU each (got 0 GPUs)\n")
    assert not (tmp_path / "x" / "runs").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--executor", "ray", "--workers", "2"],
         "--workers is for --executor local; on Ray, runs at once follow the cluster's GPUs (on CUDA) or CPUs and --threads"),
        (["--address", "auto"], "--address: only with --executor ray"),
    ],
)  # fmt: skip
def test_each_executor_refuses_the_others_options(inputs, tmp_path, extra, message):
    run = invoke(*arguments(inputs, tmp_path / "x", 1), *extra)
    assert (run.exit_code, run.output) == (1, f"error: {message}\n")
    assert not (tmp_path / "x").exists()


def test_a_run_asks_one_gpu_on_cuda_and_none_on_the_cpu():
    assert ray_resources("cuda", 1) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert ray_resources("cuda:1", 2) == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert ray_resources("cpu", 2) == {"num_cpus": 2.0, "num_gpus": 0.0}
