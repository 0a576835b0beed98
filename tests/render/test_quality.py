"""Quality presets: what each sets, labels untouched by them, the denoiser cleaner and deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import psnr
from recipes import tiny_recipe_data, write_recipe

from synthgen.errors import RecipeError
from synthgen.recipe import QUALITY_PRESETS, load_recipe, parse_recipe
from synthgen.render.run import render_dataset
from synthgen.render.sampling import sample


def render_spec(**render) -> dict:
    return parse_recipe(tiny_recipe_data(render=render), Path("tiny.yaml")).render.model_dump()


def test_presets_set_samples_threshold_and_denoise_and_fields_override_them():
    assert QUALITY_PRESETS == {
        "draft": {"samples": 4, "noise_threshold": 0.1, "denoise": True, "denoise_prefilter": "fast"},
        "standard": {"samples": 8, "noise_threshold": 0.05, "denoise": True, "denoise_prefilter": "fast"},
        "final": {"samples": 256, "noise_threshold": 0.01, "denoise": True, "denoise_prefilter": "accurate"},
    }
    common = {"engine": "cycles", "device": "auto", "gpu_backend": None, "denoise": True}
    fast = {**common, "denoise_prefilter": "fast"}
    assert render_spec() == {**fast, "quality": "standard", "samples": 8, "noise_threshold": 0.05}
    assert render_spec(quality="draft") == {**fast, "quality": "draft", "samples": 4, "noise_threshold": 0.1}
    assert render_spec(quality="final", samples=64, denoise=False) == {
        **common, "quality": "final", "samples": 64, "noise_threshold": 0.01, "denoise": False, "denoise_prefilter": "accurate",
    }
    assert render_spec(noise_threshold=0, denoise_prefilter="accurate") == {
        **common, "quality": "standard", "samples": 8, "noise_threshold": 0.0, "denoise_prefilter": "accurate",
    }


def test_bad_quality_fields_fail_with_the_field_path(tmp_path):
    for render, expected in (
        ({"quality": "ultra"}, "render.quality: Input should be 'draft', 'standard' or 'final'"),
        ({"noise_threshold": 2}, "render.noise_threshold: Input should be less than or equal to 1"),
        ({"samples": 0}, "render.samples: Input should be greater than or equal to 1"),
        ({"device": "cpu", "gpu_backend": "cuda"}, "render: gpu_backend 'cuda' needs device 'gpu' or 'auto' (got device 'cpu')"),
    ):
        path = write_recipe(tmp_path, render=render)
        with pytest.raises(RecipeError) as caught:
            load_recipe(path)
        message = str(caught.value)  # one line; a "(got VALUE)" tail may follow the expectation
        assert message.startswith(f"{path}: {expected}") and "\n" not in message, message


def labels_of(folder: Path) -> tuple[str, dict[str, bytes]]:
    """annotations.json without provenance (it names the recipe hash), and every semantic map's bytes."""
    coco = json.loads((folder / "annotations.json").read_text())
    for image in coco["images"]:
        image.pop("provenance")
    semantic = {p.name: p.read_bytes() for p in sorted((folder / "semantic").iterdir())}
    return json.dumps(coco, sort_keys=True), semantic


def test_labels_are_byte_identical_between_quality_presets(tmp_path):
    labelled = {"visibility": True, "min_visibility": 0.05, "amodal": True, "min_area": 4}
    folders = {}
    for quality, render in (("draft", {"quality": "draft"}), ("final", {"quality": "final", "samples": 8})):
        recipe = load_recipe(write_recipe(tmp_path, f"{quality}.yaml", count=2, render=render, labels=labelled))
        result = render_dataset(recipe, tmp_path / quality)
        assert result.complete, result.failures
        folders[quality] = tmp_path / quality
    draft, final = (labels_of(folders[q]) for q in ("draft", "final"))
    assert draft == final
    assert '"amodal_segmentation"' in draft[0] and len(draft[1]) == 2
    pixels = [(folders[q] / "images" / "000000.png").read_bytes() for q in ("draft", "final")]
    assert pixels[0] != pixels[1]  # the presets did change the picture


def test_the_denoiser_brings_a_few_samples_closer_to_a_many_sample_reference(backend, tmp_path):
    scene = replace(sample(load_recipe(write_recipe(tmp_path)), 0), passes=())
    reference = backend.render(replace(scene, samples=64, noise_threshold=0.0, denoise=False))  # the one render over 8 samples
    raw = backend.render(replace(scene, samples=4, noise_threshold=0.0, denoise=False))
    denoised = backend.render(replace(scene, samples=4, noise_threshold=0.0, denoise=True))
    assert psnr(denoised.rgb, reference.rgb) > psnr(raw.rgb, reference.rgb) + 3
    for render in (raw, denoised):  # labels come from the index pass, whatever the colour pass did
        assert np.array_equal(render.instance_map, reference.instance_map)
        assert np.array_equal(render.depth, reference.depth)


DENOISED_HASH = """
import hashlib, sys
from dataclasses import replace
from synthgen.recipe import load_recipe
from synthgen.render.backends.blender import BlenderBackend
from synthgen.render.sampling import sample
backend = BlenderBackend(threads=int(sys.argv[2]))
for prefilter in ("fast", "accurate"):
    scene = replace(sample(load_recipe(sys.argv[1]), 1), samples=4, denoise=True, denoise_prefilter=prefilter, passes=())
    print("HASH", hashlib.sha256(backend.render(scene).rgb.tobytes()).hexdigest(), flush=True)
"""


def test_denoised_pixels_are_the_same_in_another_process_with_the_same_threads(backend, tmp_path):
    import hashlib

    recipe_file = write_recipe(tmp_path)
    here = []
    for prefilter in ("fast", "accurate"):
        scene = replace(sample(load_recipe(recipe_file), 1), samples=4, denoise=True, denoise_prefilter=prefilter, passes=())
        here.append(hashlib.sha256(backend.render(scene).rgb.tobytes()).hexdigest())
    assert here[0] != here[1]  # the prefilter does change the result
    done = subprocess.run([sys.executable, "-c", DENOISED_HASH, str(recipe_file), "1"], capture_output=True, text=True, check=True)
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("HASH")] == here
