"""The local executor: a pool of worker processes makes the in-process bytes; failures are per image."""

from __future__ import annotations

import pickle

import pytest
from executor_helpers import dataset_bytes, render_reference, write_recipe

from synthgen.recipe import load_recipe
from synthgen.render.executors import hold_task
from synthgen.render.run import RenderTask, render_dataset
from synthgen.render.sampling import sample

pytestmark = pytest.mark.slow


def test_a_pool_of_two_workers_makes_the_in_process_bytes(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=4))
    reference = render_reference(recipe, tmp_path / "in-process")
    result = render_dataset(recipe, tmp_path / "pool", workers=2)
    assert result.complete and result.rendered == 4 and result.images_per_node == {}
    assert dataset_bytes(tmp_path / "pool") == reference


def test_images_that_raise_are_reported_by_index_and_the_rest_is_written(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=6, broken_asset=True))
    broken = {i for i in range(6) if any(o.mesh.endswith(".ply") for o in sample(recipe, i).objects)}
    result = render_dataset(recipe, tmp_path / "out", workers=2)
    assert set(result.failures) == broken and 0 < len(broken) < 6
    assert all(error.startswith("AssetError: ") for error in result.failures.values())
    assert result.rendered == 6 - len(broken) and result.dataset is None


def test_a_worker_process_holds_one_task_and_one_backend(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, count=1))
    first = RenderTask(recipe, tmp_path / "a", recipe.content_hash())
    assert hold_task(first) is first
    assert hold_task(pickle.loads(pickle.dumps(first))) is first  # the same task, sent again
    other = RenderTask(recipe, tmp_path / "b", recipe.content_hash())
    assert hold_task(other) is other
