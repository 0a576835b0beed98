"""Shared fixtures: tiny recipes, one small real Blender render reused across tests, the real COCO
photos, and tiny diffusion and CLIP models (built once per session, saved as a user's model folder
would be, and loaded back through synthgen's own loading code, offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from paths import COCO_PERSON
from recipes import write_recipe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")



@pytest.fixture
def tiny_recipe_file(tmp_path: Path) -> Path:
    return write_recipe(tmp_path)


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory) -> Path:
    """The tiny recipe rendered once (real Blender) for the label tests."""
    from synthgen.recipe import load_recipe
    from synthgen.render.run import render_dataset

    folder = tmp_path_factory.mktemp("rendered")
    recipe = load_recipe(write_recipe(folder))
    result = render_dataset(recipe, folder / "out")
    assert result.complete, result.failures
    return folder / "out"


@pytest.fixture(scope="session")
def coco_person() -> Path:
    """Four real COCO photos, their labels and a real detector's results (read-only)."""
    return COCO_PERSON


def pytest_configure(config: pytest.Config) -> None:
    """Load triton before any test renders with Blender (imported after a render, it crashes)."""
    try:
        from synthgen.render.backends.diffusion.backend import preload_triton
    except ImportError:  # no diffusion extra installed
        return
    preload_triton()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of a tiny SD pipeline, two ControlNets made from its UNet and two that do not fit it."""
    pytest.importorskip("diffusers")
    from diffusion_models import build_controlnet, build_pipeline

    root = tmp_path_factory.mktemp("tiny-models")
    unet = build_pipeline(root / "sd")
    build_controlnet(root / "controlnet-seg", unet, seed=1)
    build_controlnet(root / "controlnet-depth", unet, seed=2)
    from diffusers import ControlNetModel

    ControlNetModel.from_unet(unet).save_pretrained(root / "controlnet-8x", safe_serialization=True)  # VAE is 2x
    ControlNetModel(
        block_out_channels=(32, 64), layers_per_block=2, cross_attention_dim=16, attention_head_dim=2, norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), conditioning_embedding_out_channels=(16, 32),
    ).save_pretrained(root / "controlnet-other-text", safe_serialization=True)
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="session")
def tiny_sd_folder(tiny_models: dict[str, Path]) -> Path:
    return tiny_models["sd"]


@pytest.fixture(scope="session")
def tiny_controlnet_folder(tiny_models: dict[str, Path]) -> Path:
    return tiny_models["controlnet-seg"]


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from diffusion_models import build_clip

    folder = tmp_path_factory.mktemp("tiny-clip") / "clip"
    build_clip(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_single_file(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline as one original-layout `.safetensors` checkpoint (its folder is the config)."""
    from ldm_checkpoint import write_ldm_checkpoint

    file = tmp_path_factory.mktemp("single-file") / "tiny-sd.safetensors"
    write_ldm_checkpoint(tiny_models["sd"], file)
    return file


@pytest.fixture(scope="session")
def tiny_sdxl_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny SDXL pipeline folder and a ControlNet made from its UNet."""
    pytest.importorskip("diffusers")
    from diffusion_models import build_controlnet, build_sdxl_pipeline

    root = tmp_path_factory.mktemp("tiny-sdxl")
    build_controlnet(root / "controlnet", build_sdxl_pipeline(root / "sdxl"))
    return {"sdxl": root / "sdxl", "controlnet": root / "controlnet"}
