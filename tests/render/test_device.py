"""Render devices: discovery through Cycles' own preferences, the no-GPU error, worker pinning, provenance.

This machine has no GPU: what a GPU would add (rendering on it, one GPU per worker for real) is
checked by hand on a GPU machine (docs/scenes.md, "Quality and devices").
"""

from __future__ import annotations

import json
import multiprocessing

import pytest
from helpers import invoke
from recipes import write_recipe

from synthgen.recipe import load_recipe
from synthgen.render.backends import preflight
from synthgen.render.backends.blender_device import Device, NoGPUError, choose, discover, pin
from synthgen.render.executors import hold_task
from synthgen.render.executors.local import next_slot
from synthgen.render.executors.ray import RayOptions
from synthgen.render.run import RenderTask, render_dataset

BUILD = {"CUDA": [], "OPTIX": [], "HIP": [], "ONEAPI": []}  # what the Linux bpy 4.5 wheel supports
LOOKED_FOR = "OptiX, CUDA, HIP, oneAPI"


@pytest.fixture(scope="module")
def found():
    from synthgen.render.backends.blender_device import forget_inherited_blender_paths

    forget_inherited_blender_paths()
    import bpy

    found = discover(bpy)
    if any(found.values()):
        pytest.skip(f"this machine has GPUs ({found}); these tests are about a machine without one")
    return found


def test_cycles_preferences_list_the_backends_of_this_build_and_no_gpu(found):
    assert found == BUILD


def test_auto_prefers_optix_then_cuda_and_falls_back_to_the_cpu():
    a, b = ("CUDA_0000:01:00", "NVIDIA H200"), ("CUDA_0000:02:00", "NVIDIA H200")
    optix = [("OPTIX_" + a[0], a[1]), ("OPTIX_" + b[0], b[1])]
    assert choose({**BUILD, "CUDA": [a, b], "OPTIX": optix}, "auto", None) == ("OPTIX", optix)
    assert choose({**BUILD, "CUDA": [a, b], "OPTIX": optix}, "gpu", "cuda") == ("CUDA", [a, b])
    assert choose({**BUILD, "HIP": [a]}, "gpu", None) == ("HIP", [a])
    assert choose({**BUILD, "CUDA": [a]}, "cpu", None) == ("CPU", [])
    assert choose(BUILD, "auto", None) == ("CPU", [])


def test_asking_for_a_gpu_without_one_names_what_was_looked_for():
    for device, backend, expected in (
        ("gpu", None, f"x.yaml: render.device: Cycles found no GPU (looked for {LOOKED_FOR}; got 'gpu'); use device 'auto' or 'cpu'"),
        ("auto", "cuda", "x.yaml: render.gpu_backend: Cycles found no CUDA GPU (got 'cuda')"),
        ("gpu", "metal", f"x.yaml: render.gpu_backend: this Blender build has no Metal support (got: {LOOKED_FOR})"),
    ):
        with pytest.raises(NoGPUError) as caught:
            choose(BUILD, device, backend, "x.yaml")
        assert str(caught.value) == expected


def test_worker_i_renders_on_gpu_i():
    gpus = [(f"CUDA_{i}", "NVIDIA H200") for i in range(3)]
    assert [pin(gpus, slot) for slot in range(4)] == [[gpus[0]], [gpus[1]], [gpus[2]], [gpus[0]]]
    assert pin(gpus, None) == gpus  # one worker: every GPU renders each image together
    assert pin([], 1) == []


def test_pool_workers_take_slots_0_1_2_in_start_order(tmp_path):
    slots = multiprocessing.get_context("spawn").Value("i", 0)
    # what each worker process's initializer does with the pool's shared counter
    assert [next_slot(slots) for _ in range(3)] == [0, 1, 2] and slots.value == 3
    recipe = load_recipe(write_recipe(tmp_path))
    task = RenderTask(recipe, tmp_path / "out", recipe.content_hash(), slot=2)
    assert hold_task(task).backend.device == Device("CPU")  # a CPU render ignores its slot
    task.close()


def test_gpu_recipe_fails_before_rendering_and_writes_nothing(found, tmp_path):
    path = write_recipe(tmp_path, render={"samples": 4, "device": "gpu"})
    with pytest.raises(NoGPUError) as caught:
        render_dataset(load_recipe(path), tmp_path / "out")
    assert str(caught.value) == f"{path}: render.device: Cycles found no GPU (looked for {LOOKED_FOR}; got 'gpu'); use device 'auto' or 'cpu'"
    assert not (tmp_path / "out").exists()
    result = invoke("render", path, "-o", tmp_path / "cli", "-q")
    assert result.exit_code == 1 and not (tmp_path / "cli").exists()
    assert result.output.strip().splitlines() == [f"error: {caught.value}"]
    preflight(load_recipe(path), local=False)  # on a cluster, the nodes' GPUs count: each worker checks


def test_ray_asks_one_gpu_per_actor_for_gpu_renders(tmp_path):
    def options(render: dict, resources: dict | None = None) -> tuple[float, float]:
        recipe = load_recipe(write_recipe(tmp_path, render=render, **({"resources": resources} if resources else {})))
        resolved = RayOptions().for_recipe(recipe)
        return resolved.num_gpus, resolved.num_cpus

    assert options({"device": "gpu"}) == (1.0, 0.25)
    assert options({"gpu_backend": "optix"}) == (1.0, 0.25)
    assert options({"device": "gpu"}, {"num_gpus": 0.5}) == (0.5, 0.25)
    assert options({"device": "auto"}) == (0.0, 1.0)


def test_the_device_used_is_in_each_images_provenance_and_the_manifest(rendered_dataset):
    coco = json.loads((rendered_dataset / "annotations.json").read_text())
    assert [image["provenance"]["extra"] for image in coco["images"]] == [{"device": "cpu"}] * 4
    assert json.loads((rendered_dataset / "manifest.json").read_text())["devices"] == {"cpu": 4}


def test_a_cpu_backend_reports_the_cpu(found):
    from synthgen.render.backends.blender import BlenderBackend

    backend = BlenderBackend(threads=1, device="auto", slot=1)
    try:
        assert backend.device == Device("CPU") and backend.device.describe() == "cpu"
        assert backend.bpy.context.preferences.addons["cycles"].preferences.compute_device_type == "NONE"
    finally:
        backend.close()
