"""The `diffusion:` recipe block: one-line errors, sampling of prompts and seeds, examples, presets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import constants as hub_constants
from paths import REPO, SCENES
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.recipe import RecipeError, load_recipe, parse_recipe
from synthgen.recipe.diffusion import DiffusionSpec
from synthgen.render.sampling import sample

EXAMPLES = sorted(SCENES.glob("diffusion_*.yaml"))


def recipe_data(**diffusion) -> dict:
    return {
        "version": 1, "name": "d", "count": 2, "backend": "diffusion", "image": {"width": 64, "height": 48},
        "classes": [{"name": "cube", "primitive": "cube", "count": [1, 3]}],
        "diffusion": {"mode": "layout", "model": "some/hub-model", "controlnet": "some/hub-controlnet", **diffusion},
    }  # fmt: skip


def problems(data: dict, tmp_path: Path) -> list[str]:
    with pytest.raises(RecipeError) as error:
        parse_recipe(data, tmp_path / "r.yaml")
    return error.value.problems


def test_a_missing_local_model_is_one_line_naming_the_field(tmp_path):
    assert problems(recipe_data(model="./models/nothing-here"), tmp_path) == [
        f"{tmp_path / 'r.yaml'}: diffusion.model: no such file or folder: {tmp_path / 'models' / 'nothing-here'}"
    ]
    lines = problems(recipe_data(controlnet=[{"model": "net.safetensors"}]), tmp_path)
    assert lines == [f"{tmp_path / 'r.yaml'}: diffusion.controlnet[0].model: no such file or folder: {tmp_path / 'net.safetensors'}"]


def test_sizes_must_divide_by_8(tmp_path):
    data = {**recipe_data(), "image": {"width": 60, "height": 44}}
    assert problems(data, tmp_path) == [
        f"{tmp_path / 'r.yaml'}: image.width: must be divisible by 8 for the diffusion backend, got 60",
        f"{tmp_path / 'r.yaml'}: image.height: must be divisible by 8 for the diffusion backend, got 44",
    ]


@pytest.mark.parametrize(
    ("diffusion", "message"),
    [
        ({"controlnet": []}, "diffusion: mode 'layout' needs at least one 'controlnet' (the layout is its conditioning)"),
        ({"mode": "inpaint", "controlnet": []}, "diffusion: mode 'inpaint' needs 'backgrounds': a folder of photos"),
        ({"trust": {"scorer": "clip"}}, "diffusion.trust: scorer 'clip' needs 'model': a CLIP folder or hub id"),
        ({"trust": {"scorer": "detector", "detector": "yolo"}}, "diffusion.trust: detector 'yolo' needs 'weights': its .onnx export"),
        ({"trust": {"scorer": "detector", "detector": "grounding-dino"}}, "diffusion.trust: detector 'grounding-dino' needs 'model': its folder or hub id"),
        ({"prompt": {"template": "a {class} in {place}"}}, "diffusion.prompt: template: template 'a {class} in {place}' uses an unknown or malformed field: 'place'"),
        ({"prompt": {"classes": {"ball": "a ball"}}}, "diffusion.prompt.classes.ball: not a class of this recipe"),
        ({"controlnet": {"model": "x/y", "conditioning": "ade20k"}}, "diffusion.ade20k_classes.cube: 'cube' is not an ADE20K class; map it to one (e.g. 'box', 'bottle', 'vase')"),
        ({"steps": 0}, "diffusion.steps: Input should be greater than or equal to 1 (got 0)"),
    ],
)  # fmt: skip
def test_bad_diffusion_blocks_fail_in_one_line(tmp_path, diffusion, message):
    assert problems(recipe_data(**diffusion), tmp_path) == [f"{tmp_path / 'r.yaml'}: {message}"]


def test_prompts_and_seeds_are_drawn_in_sampling_after_the_layout(tmp_path):
    data = recipe_data(prompt={"template": "a {class} on {surface}", "attributes": {"surface": ["wood", "stone", "sand"]}})
    recipe = parse_recipe(data, tmp_path / "r.yaml")
    blender = parse_recipe({k: v for k, v in data.items() if k not in ("backend", "diffusion")}, tmp_path / "r.yaml")
    scenes = [sample(recipe, i) for i in range(12)]
    assert scenes[3] == sample(recipe, 3)
    assert [s.objects for s in scenes] == [sample(blender, i).objects for i in range(12)]
    assert {s.diffusion.prompts["cube"] for s in scenes} == {f"a cube on {s}" for s in ("wood", "stone", "sand")}
    assert len({s.diffusion.seed for s in scenes}) == 12


def test_a_plain_string_prompt_is_the_template(tmp_path):
    recipe = parse_recipe(recipe_data(prompt="a shiny {class} on a table"), tmp_path / "r.yaml")
    assert recipe.diffusion.prompt.template == "a shiny {class} on a table"
    assert recipe.diffusion.prompt.classes == {} and recipe.diffusion.prompt.negative == ""
    assert sample(recipe, 0).diffusion.prompts == {"cube": "a shiny cube on a table"}
    assert problems(recipe_data(prompt="a {class} in {place}"), tmp_path) == [
        f"{tmp_path / 'r.yaml'}: diffusion.prompt: template: template 'a {{class}} in {{place}}' uses an unknown or malformed field: 'place'"
    ]


def test_recipe_and_cli_help_do_not_import_torch():
    code = "import sys, synthgen.recipe, synthgen.render.sampling, synthgen.render.run; assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys; from synthgen.cli import app; sys.argv = ['synthgen', '--help']\ntry: app()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("preset", sorted((REPO / "configs" / "diffusion").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_are_valid_diffusion_blocks(preset):
    spec = DiffusionSpec.model_validate(yaml.safe_load(preset.read_text()))
    assert spec.model.count("/") == 1 and all(n.model.count("/") == 1 for n in spec.controlnet)  # hub ids only


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_render_with_tiny_models_in_place_of_hub_models(example, tmp_path, tiny_models, tiny_clip_folder):
    pytest.importorskip("bpy")
    from synthgen.formats.check import check_dataset
    from synthgen.render.run import render_dataset

    recipe = load_recipe(example).with_overrides(count=1)
    nets = [net.model_copy(update={"model": str(tiny_models["controlnet-seg"])}) for net in recipe.diffusion.controlnet]
    trust = recipe.diffusion.trust
    if trust.scorer == "clip":
        trust = trust.model_copy(update={"model": str(tiny_clip_folder)})
    spec = recipe.diffusion.model_copy(update={"model": str(tiny_models["sd"]), "controlnet": nets, "steps": 2, "trust": trust})
    small = recipe.model_copy(update={"diffusion": spec, "image": recipe.image.model_copy(update={"width": 64, "height": 48})})
    small._source = recipe.source
    result = render_dataset(small, tmp_path / "out")
    assert result.complete, result.failures
    report = check_dataset(tmp_path / "out")
    assert report.ok, report.problems
    provenance = result.dataset.samples[0].provenance
    assert provenance.source == "diffusion" and provenance.extra["trust"]["scorer"] == recipe.diffusion.trust.scorer


def test_a_clip_model_that_is_not_here_fails_before_rendering(tmp_path, tiny_models, monkeypatch):
    from synthgen.render.backends import preflight

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    data = recipe_data(model=str(tiny_models["sd"]), controlnet=str(tiny_models["controlnet-seg"]))
    data["diffusion"]["trust"] = {"scorer": "clip", "model": "nobody/no-such-clip"}
    with pytest.raises(RecipeError) as error:
        preflight(parse_recipe(data, tmp_path / "r.yaml"))
    (line,) = error.value.problems
    assert line == (
        f"{tmp_path / 'r.yaml'}: diffusion.trust.model: 'nobody/no-such-clip' is not in the local Hugging Face cache "
        "and HF_HUB_OFFLINE=1 is set: it cannot be downloaded"
    )


def hub_cache(root: Path, repo_id: str, filename: str) -> Path:
    """A Hugging Face hub cache holding `filename` of `repo_id` (the layout huggingface_hub writes)."""
    repo, commit = root / f"models--{repo_id.replace('/', '--')}", "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / filename).write_text("{}")
    return root


@pytest.fixture
def hub_recipe(tmp_path: Path, monkeypatch) -> Path:
    """A recipe naming a local model folder, a cached hub ControlNet and an uncached hub CLIP."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub_cache(tmp_path / "hub", "acme/seg-net", "config.json")))
    (tmp_path / "models/sd").mkdir(parents=True)
    data = recipe_data(model="./models/sd", controlnet="acme/seg-net", trust={"scorer": "clip", "model": "acme/clip"})
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "r.yaml"


def test_validate_says_where_each_model_comes_from(hub_recipe, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    result = CliRunner().invoke(app, ["validate", str(hub_recipe)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        f"  diffusion.model: local folder {hub_recipe.parent / 'models/sd'}",
        f"  diffusion.controlnet[0].model: 'acme/seg-net' found in the local Hugging Face cache ({hub_recipe.parent / 'hub'})",
        "  diffusion.trust.model: 'acme/clip' is not in the local Hugging Face cache: it will be downloaded from the hub at render",
    ]


def test_offline_validate_and_render_say_a_model_cannot_be_downloaded(hub_recipe, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    expected = (
        f"error: {hub_recipe}: diffusion.trust.model: 'acme/clip' is not in the local Hugging Face cache "
        "and HF_HUB_OFFLINE=1 is set: it cannot be downloaded"
    )
    result = CliRunner().invoke(app, ["validate", str(hub_recipe)])
    assert (result.exit_code, result.stdout, result.stderr.splitlines()) == (1, "", [expected])
    # render fails the same way before it loads torch or diffusers, and writes nothing
    code = (
        "import sys; from synthgen.cli import app; sys.argv = ['synthgen', 'render', sys.argv[1], '-o', sys.argv[2], '-q']\n"
        "try: app()\nexcept SystemExit as e: assert e.code == 1, e.code\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_recipe.parent / "hub")}
    run = subprocess.run([sys.executable, "-c", code, str(hub_recipe), str(hub_recipe.parent / "out")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [expected]
    assert not (hub_recipe.parent / "out").exists()
