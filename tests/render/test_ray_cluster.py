"""The Ray executor on a real two-node cluster on this machine; one node has a (pretend) GPU."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from executor_helpers import dataset_bytes, ray_env, recipe, reference  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from synthgen.render.executors.ray import RayExecutor, RayOptions  # noqa: E402
from synthgen.render.run import RenderTask, render_dataset  # noqa: E402
from synthgen.render.run_folder import claim  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["ray_env", "recipe", "reference"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def cluster(ray_env):
    """A head node (1 CPU) and a GPU node (1 CPU, 1 GPU); Ray's GPU is a resource count, so none is needed."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    cluster.wait_for_nodes()
    yield cluster, gpu_node
    cluster.shutdown()


def test_cpu_tasks_run_on_both_nodes(cluster, recipe, reference, tmp_path):
    cluster, gpu_node = cluster
    result = render_dataset(recipe, tmp_path / "out", executor="ray", ray_options=RayOptions(address=cluster.address))
    assert result.complete, result.failures
    assert set(result.images_per_node) == {cluster.head_node.node_id, gpu_node.node_id}
    assert dataset_bytes(tmp_path / "out") == reference


def test_gpu_actors_hold_the_backend_on_the_gpu_node(cluster, recipe, reference, tmp_path):
    """Half a GPU per actor: two actors, both on the GPU node, each rendering with its own Blender."""
    cluster, gpu_node = cluster
    out = tmp_path / "out"
    claim(out, recipe)
    options = RayOptions(address=cluster.address, num_gpus=0.5).for_recipe(recipe)
    executor = RayExecutor(options)
    outcomes = list(executor.run(RenderTask(recipe, out, recipe.content_hash(), threads=options.threads), list(range(6))))
    assert all(error is None for _, _, error in outcomes), outcomes
    assert {node for node, _ in executor.placement} == {gpu_node.node_id}
    assert len(executor.placement) == 2, executor.placement  # two actor processes
    assert render_dataset(recipe, out).resumed == 6  # the local executor only assembles the labels
    assert dataset_bytes(out) == reference
