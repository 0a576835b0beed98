"""Diffusion backend end to end on tiny random models: recipe -> dataset folder -> strict check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from paths import COCO_PERSON
from PIL import Image
from recipes import tiny_recipe_data

pytest.importorskip("diffusers")
pytest.importorskip("bpy")

from synthgen.formats.check import check_dataset  # noqa: E402
from synthgen.recipe import RecipeError, parse_recipe  # noqa: E402
from synthgen.render.run import render_dataset  # noqa: E402


def make_recipe(tmp_path: Path, models: dict[str, Path], **diffusion):
    data = tiny_recipe_data(
        name="tiny-diffusion", seed=5, count=2, backend="diffusion", render={"engine": "workbench", "samples": 1},
        classes=[{"name": "cube", "primitive": "cube", "count": [1, 2]}, {"name": "ball", "primitive": "sphere"}],
        scene={"camera": {"distance": [4, 5]}}, labels={}, output={"formats": ["coco"]},
        diffusion={
            "mode": "layout",
            "model": str(models["sd"]),
            "controlnet": [{"model": str(models["controlnet-seg"]), "conditioning": "segmentation"}],
            "steps": 2,
            "batch_size": 2,
            "prompt": {"template": "a {class} on {surface}", "attributes": {"surface": ["wood", "stone"]}},
            "trust": {"scorer": "none"},
            **diffusion,
        },
    )
    return parse_recipe(data, tmp_path / "recipe.yaml")


def render_ok(recipe, out: Path) -> dict:
    result = render_dataset(recipe, out)
    assert result.complete, result.failures
    report = check_dataset(out)
    assert report.ok, report.problems
    return json.loads((out / "annotations.json").read_text())


def pixels(out: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted((out / "images").glob("*.png"))]


def test_layout_mode_makes_a_checked_dataset_with_diffusion_provenance(tmp_path, tiny_models):
    coco = render_ok(make_recipe(tmp_path, tiny_models), tmp_path / "out")
    assert len(coco["images"]) == 2 and coco["annotations"]
    provenance = coco["images"][0]["provenance"]
    assert provenance["source"] == "diffusion"
    assert provenance["model_ids"]["controlnet0"] == str(tiny_models["controlnet-seg"])
    assert provenance["extra"]["prompt"].startswith(("a cube on", "a ball on"))


def assert_within_one_level(batched: np.ndarray, single: np.ndarray) -> None:
    """CPU kernels round differently by batch size: at most one intensity level, on rare pixels."""
    difference = np.abs(batched.astype(int) - single)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001


def test_same_seed_same_labels_across_batches_and_resume_other_seed_other_image(tmp_path, tiny_models):
    recipe = make_recipe(tmp_path, tiny_models)
    render_ok(recipe, tmp_path / "a")
    render_ok(recipe, tmp_path / "a-again")  # the same batches: the same bytes
    render_ok(recipe.with_overrides(count=1), tmp_path / "b")  # a batch of one, not of two
    assert render_dataset(recipe, tmp_path / "b").resumed == 1  # then resumed to two images
    render_ok(recipe.with_overrides(seed=6), tmp_path / "c")
    a, again, b, c = (pixels(tmp_path / name) for name in ("a", "a-again", "b", "c"))
    assert len(a) == len(again) == len(b) == 2 and all(np.array_equal(x, y) for x, y in zip(a, again, strict=True))
    for batched, single in zip(a, b, strict=True):
        assert_within_one_level(batched, single)
    assert (tmp_path / "a" / "annotations.json").read_bytes() == (tmp_path / "b" / "annotations.json").read_bytes()
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("controlnets", ["depth+canny", "none"])
def test_restyle_keeps_the_blender_labels(tmp_path, tiny_models, controlnets):
    nets = {
        "depth+canny": [
            {"model": str(tiny_models["controlnet-depth"]), "conditioning": "depth"},
            {"model": str(tiny_models["controlnet-seg"]), "conditioning": "canny", "scale": 0.5},
        ],
        "none": [],
    }[controlnets]
    recipe = make_recipe(tmp_path, tiny_models, mode="restyle", strength=0.5, controlnet=nets)  # batch of 2
    blender = recipe.model_copy(update={"backend": "blender", "diffusion": None})
    restyled, rendered = render_ok(recipe, tmp_path / "restyle"), render_ok(blender, tmp_path / "blender")
    keys = ("category_id", "bbox", "segmentation", "area")
    assert [{k: a[k] for k in keys} for a in restyled["annotations"]] == [{k: a[k] for k in keys} for a in rendered["annotations"]]
    assert restyled["annotations"]
    assert not np.array_equal(pixels(tmp_path / "restyle")[0], pixels(tmp_path / "blender")[0])


def test_inpaint_paints_inside_masks_and_keeps_the_photo_elsewhere(tmp_path, tiny_models):
    net = {"model": str(tiny_models["controlnet-seg"]), "conditioning": "segmentation"}
    recipe = make_recipe(tmp_path, tiny_models, mode="inpaint", backgrounds=str(COCO_PERSON), controlnet=[net])
    coco = render_ok(recipe, tmp_path / "out")
    image = coco["images"][0]
    assert Path(image["provenance"]["extra"]["background"]).parent == COCO_PERSON
    from synthgen.labels import decode_mask
    from synthgen.render.backends.diffusion.backend import background_photo
    from synthgen.render.sampling import sample

    expected = background_photo(sample(recipe, 0))
    painted = pixels(tmp_path / "out")[0]
    inside = np.zeros(painted.shape[:2], dtype=bool)
    for ann in coco["annotations"]:
        if ann["image_id"] == image["id"]:
            inside |= decode_mask(ann["segmentation"])
    assert inside.any()
    assert np.array_equal(painted[~inside], expected[~inside])
    assert not np.array_equal(painted[inside], expected[inside])


def test_multi_controlnet_uses_every_conditioning_and_weight(tmp_path, tiny_models):
    nets = [
        {"model": str(tiny_models["controlnet-seg"]), "conditioning": "ade20k", "scale": 1.0},
        {"model": str(tiny_models["controlnet-depth"]), "conditioning": "depth", "scale": 1.0},
    ]
    ade = {"cube": "box", "ball": "ball"}
    recipe = make_recipe(tmp_path, tiny_models, controlnet=nets, ade20k_classes=ade)
    render_ok(recipe, tmp_path / "batch")  # two images in one batch
    render_ok(recipe.with_overrides(count=1), tmp_path / "single")
    muted = make_recipe(tmp_path, tiny_models, controlnet=[nets[0], {**nets[1], "scale": 0.0}], ade20k_classes=ade)
    render_ok(muted.with_overrides(count=1), tmp_path / "muted")
    single = pixels(tmp_path / "single")[0]
    assert_within_one_level(pixels(tmp_path / "batch")[0], single)  # each image gets its own control images
    assert not np.array_equal(single, pixels(tmp_path / "muted")[0])


def test_sdxl_family_layout(tmp_path, tiny_models, tiny_sdxl_folders):
    sdxl = {"family": "sdxl", "model": str(tiny_sdxl_folders["sdxl"]), "controlnet": [str(tiny_sdxl_folders["controlnet"])]}
    coco = render_ok(make_recipe(tmp_path, tiny_models, **sdxl), tmp_path / "out")
    assert coco["annotations"] and coco["images"][0]["provenance"]["model_ids"]["model"] == str(tiny_sdxl_folders["sdxl"])


def test_single_file_checkpoint_with_local_config_folder(tmp_path, tiny_models, tiny_single_file):
    recipe = make_recipe(tmp_path, tiny_models, model=str(tiny_single_file), config=str(tiny_models["sd"]))
    render_ok(recipe.with_overrides(count=1), tmp_path / "single")
    render_ok(make_recipe(tmp_path, tiny_models).with_overrides(count=1), tmp_path / "folder")
    assert np.array_equal(pixels(tmp_path / "single")[0], pixels(tmp_path / "folder")[0])


def test_trust_gate_regenerates_then_drops_as_ignore_regions(tmp_path, tiny_models):
    trust = {"scorer": "contrast", "threshold": 1.0, "action": "regenerate", "retries": 1}
    coco = render_ok(make_recipe(tmp_path, tiny_models, trust=trust).with_overrides(count=1), tmp_path / "out")
    assert all(image["provenance"]["extra"]["attempts"] == 2 for image in coco["images"])
    assert coco["annotations"] and all(a["iscrowd"] == 1 and a["attributes"]["trust"] == "dropped" for a in coco["annotations"])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["trust"] == {"scored": len(coco["annotations"]), "kept": 0, "dropped": len(coco["annotations"])}


@pytest.mark.parametrize(
    ("net", "message"),
    [
        ("controlnet-8x", "does not fit the base model: its conditioning embedding downsamples 8x but the VAE's scale factor is 2x"),
        ("controlnet-other-text", "does not fit the base model: cross_attention_dim is 16 but the UNet's is 32"),
    ],
)
def test_a_controlnet_that_does_not_fit_fails_before_rendering(tmp_path, tiny_models, net, message):
    recipe = make_recipe(tmp_path, tiny_models, controlnet=[str(tiny_models[net])])
    with pytest.raises(RecipeError) as error:
        render_dataset(recipe, tmp_path / "out")
    assert error.value.problems == [f"{tmp_path / 'recipe.yaml'}: diffusion.controlnet[0]: {message}"]
    assert not (tmp_path / "out").exists()


def test_detector_trust_gate_scores_each_instance_with_a_prelabelling_detector(tmp_path, tiny_models):
    from detector_models import tiny_open_vocab_model

    owl = tiny_open_vocab_model(tmp_path / "owl", "owlvit")
    trust = {"scorer": "detector", "detector": "owlvit", "model": str(owl), "threshold": 0.0}
    coco = render_ok(make_recipe(tmp_path, tiny_models, trust=trust).with_overrides(count=1), tmp_path / "out")
    annotations = coco["annotations"]
    assert annotations and all(a["attributes"]["trust"] == "kept" and 0.0 <= a["score"] <= 1.0 for a in annotations)
    assert coco["images"][0]["provenance"]["model_ids"]["trust"] == f"owlvit:{owl}"
    assert coco["images"][0]["provenance"]["extra"]["trust"] == {"scorer": "detector", "threshold": 0.0}


def test_a_detector_trust_gate_needs_its_model():
    with pytest.raises(RecipeError, match="detector 'owlv2' needs 'model'"):
        make_recipe(Path("/nonexistent"), {"sd": Path("sd"), "controlnet-seg": Path("cn")}, trust={"scorer": "detector", "detector": "owlv2"})


def test_cli_reports_the_trust_gate_and_model_errors_in_one_line(tmp_path, tiny_models):
    import yaml
    from typer.testing import CliRunner

    from synthgen.cli import app

    recipe = make_recipe(tmp_path, tiny_models, trust={"scorer": "contrast", "threshold": 0.0})
    data = recipe.model_dump(mode="json", exclude_defaults=True)
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump({**data, "version": 1, "count": 1}))
    result = CliRunner().invoke(app, ["render", str(tmp_path / "ok.yaml"), "-o", str(tmp_path / "out"), "--log", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["trust"]["dropped"] == 0 and summary["trust"]["kept"] == summary["trust"]["scored"] > 0
    data["diffusion"]["controlnet"] = [{"model": str(tiny_models["controlnet-8x"])}]
    (tmp_path / "misfit.yaml").write_text(yaml.safe_dump({**data, "version": 1}))
    result = CliRunner().invoke(app, ["render", str(tmp_path / "misfit.yaml"), "-o", str(tmp_path / "misfit")])
    assert result.exit_code == 1
    assert "diffusion.controlnet[0]: does not fit the base model" in result.output
    assert not (tmp_path / "misfit").exists()


def test_a_hub_id_that_is_not_here_fails_in_one_line(tmp_path, tiny_models, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    recipe = make_recipe(tmp_path, tiny_models, model="nobody/no-such-model")
    with pytest.raises(RecipeError) as error:
        render_dataset(recipe, tmp_path / "out")
    assert error.value.problems == [
        f"{tmp_path / 'recipe.yaml'}: diffusion.model: 'nobody/no-such-model' is not in the local Hugging Face cache "
        "and HF_HUB_OFFLINE=1 is set: it cannot be downloaded"
    ]


def test_cuda_without_a_gpu_fails_in_one_line(tmp_path, tiny_models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RecipeError) as error:
        render_dataset(make_recipe(tmp_path, tiny_models, device="cuda"), tmp_path / "out")
    assert error.value.problems == [
        f"{tmp_path / 'recipe.yaml'}: diffusion.device: 'cuda' asked for, but torch sees no CUDA GPU on this machine; use 'auto' or 'cpu'"
    ]
