"""The Ray executor on a real local Ray instance: same bytes as the local pool, retries, back-pressure, failures."""

from __future__ import annotations

import os
import time

import pytest

ray = pytest.importorskip("ray")

from executor_helpers import (  # noqa: E402
    WorkerKiller,
    dataset_bytes,
    ray_env,
    recipe,
    records,
    reference,
    write_recipe,
)

from synthgen.errors import ExecutorError  # noqa: E402
from synthgen.recipe import load_recipe  # noqa: E402
from synthgen.render.executors.ray import RayExecutor, RayOptions  # noqa: E402
from synthgen.render.run import RenderTask, render_dataset  # noqa: E402
from synthgen.render.run_folder import claim  # noqa: E402
from synthgen.render.sampling import sample  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["ray_env", "recipe", "reference"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def ray_instance(ray_env):
    """A private two-CPU Ray instance for this module; the executor uses an open session as it is."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_ray_dataset_equals_local_pool_byte_for_byte(ray_instance, recipe, reference, tmp_path):
    progress = []
    result = render_dataset(recipe, tmp_path / "out", executor="ray", on_progress=lambda i, record: progress.append((i, record is not None)))
    assert result.complete and result.rendered == 6 and result.resumed == 0
    assert sorted(progress) == [(i, True) for i in range(6)]
    assert sum(result.images_per_node.values()) == 6
    assert dataset_bytes(tmp_path / "out") == reference


def render_while_killing_a_worker(recipe, out, max_retries: int):
    """Render on Ray while a render worker is SIGKILLed mid-image."""
    killer = WorkerKiller(os.getpid())
    killer.start()
    result = render_dataset(recipe, out, executor="ray", ray_options=RayOptions(max_retries=max_retries))
    killer.join()
    assert killer.killed, "no render worker was seen, so none was killed"
    return result


def test_worker_killed_mid_image_is_retried_and_the_run_completes(ray_instance, recipe, reference, tmp_path):
    result = render_while_killing_a_worker(recipe, tmp_path / "out", max_retries=2)
    assert result.complete, result.failures
    assert dataset_bytes(tmp_path / "out") == reference


def test_image_failing_every_try_is_reported_and_a_rerun_finishes_it(ray_instance, recipe, reference, tmp_path):
    result = render_while_killing_a_worker(recipe, tmp_path / "out", max_retries=0)
    assert result.failures and not result.complete and result.dataset is None
    assert all("died" in error and "0 retries" in error for error in result.failures.values()), result.failures
    assert records(tmp_path / "out") == 6 - len(result.failures)
    assert not (tmp_path / "out" / "annotations.json").exists()
    rerun = render_dataset(recipe, tmp_path / "out", executor="ray")
    assert rerun.complete and rerun.rendered == len(result.failures)
    assert dataset_bytes(tmp_path / "out") == reference


def test_an_image_that_raises_is_reported_by_index_and_the_rest_is_written(ray_instance, tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=6, broken_asset=True))
    broken = {i for i in range(6) if any(o.mesh.endswith(".ply") for o in sample(recipe, i).objects)}
    assert 0 < len(broken) < 6
    result = render_dataset(recipe, tmp_path / "out", executor="ray")
    assert set(result.failures) == broken
    assert all(error.startswith("AssetError: ") and "broken.ply" in error for error in result.failures.values())
    assert {p.stem for p in (tmp_path / "out" / "images").glob("*.png")} == {f"{i:06d}" for i in range(6) if i not in broken}


def test_tasks_in_flight_are_bounded(ray_instance, recipe, tmp_path):
    """While the caller does not take outcomes, at most `max_in_flight` more images are rendered."""
    out = tmp_path / "out"
    claim(out, recipe)
    options = RayOptions(max_in_flight=2).for_recipe(recipe)
    outcomes = RayExecutor(options).run(RenderTask(recipe, out, recipe.content_hash()), list(range(6)))
    next(outcomes)
    time.sleep(4)  # unbounded, all six would be finished by now (an image takes well under a second)
    assert records(out) <= 1 + 2
    assert len(list(outcomes)) == 5 and records(out) == 6


def test_gpu_recipe_on_a_cluster_without_gpus_fails_clearly(ray_instance, recipe, tmp_path):
    with pytest.raises(ExecutorError, match="0 GPUs; pass --gpu-actors"):
        render_dataset(recipe, tmp_path / "out", executor="ray", ray_options=RayOptions(num_gpus=1))


def test_ray_options_take_flags_over_recipe_over_defaults(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, resources={"num_cpus": 2, "memory": "1GiB"}))
    assert RayOptions().for_recipe(recipe) == RayOptions(num_cpus=2.0, memory=2**30, num_gpus=0.0)
    assert RayOptions(num_cpus=0.5, num_gpus=0.5).for_recipe(recipe).num_cpus == 0.5
    gpu = RayOptions(num_gpus=0.5).for_recipe(load_recipe(write_recipe(tmp_path / "plain")))
    assert (gpu.num_cpus, gpu.threads) == (0.25, 1)
    assert recipe.content_hash() == load_recipe(write_recipe(tmp_path / "plain")).content_hash()


def test_a_worker_that_cannot_see_the_output_folder_says_so(ray_instance, recipe, tmp_path):
    """As on a node without the shared mount: the folder was never claimed where the worker looks."""
    unseen = tmp_path / "not-mounted-here"
    options = RayOptions().for_recipe(recipe)
    outcomes = list(RayExecutor(options).run(RenderTask(recipe, unseen, recipe.content_hash()), [0, 1]))
    assert sorted(index for index, _, _ in outcomes) == [0, 1]
    assert all(record is None and "is not visible on" in error for _, record, error in outcomes)
    assert not unseen.exists()
