"""Loading diffusers pipelines the way a recipe names them, and checking that the parts fit.

A model reference is a hub id or a local folder (`from_pretrained`) or a single checkpoint file
(`from_single_file`, with `config=` a config folder or hub id). Weights load from safetensors
when the folder has them (`use_safetensors` is never forced off), and `.ckpt` files go through
diffusers' `torch.load(weights_only=True)`. Every problem is one line naming the recipe field.
Where each model will come from (a path, the local Hugging Face hub cache, or a download) is
found without network and without torch (`model_sources`), so `validate` can say it and an
offline `render` fails at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.errors import ModelError, RecipeError
from synthgen.recipe import Recipe
from synthgen.recipe.diffusion import SINGLE_FILE_SUFFIXES, ControlNetSpec, DiffusionSpec, resolve_model

SCHEDULER_CLASSES = {
    "ddim": "DDIMScheduler",
    "dpm": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
}
PIPELINE_CLASSES = {  # (family, mode, with ControlNet) -> diffusers pipeline class
    ("sd15", "layout", True): "StableDiffusionControlNetPipeline",
    ("sd15", "restyle", True): "StableDiffusionControlNetImg2ImgPipeline",
    ("sd15", "restyle", False): "StableDiffusionImg2ImgPipeline",
    ("sd15", "inpaint", True): "StableDiffusionControlNetInpaintPipeline",
    ("sd15", "inpaint", False): "StableDiffusionInpaintPipeline",
    ("sdxl", "layout", True): "StableDiffusionXLControlNetPipeline",
    ("sdxl", "restyle", True): "StableDiffusionXLControlNetImg2ImgPipeline",
    ("sdxl", "restyle", False): "StableDiffusionXLImg2ImgPipeline",
    ("sdxl", "inpaint", True): "StableDiffusionXLControlNetInpaintPipeline",
    ("sdxl", "inpaint", False): "StableDiffusionXLInpaintPipeline",
}


def device_and_dtype(spec: DiffusionSpec) -> tuple[str, Any]:
    """The torch device and dtype the recipe asks for (auto: CUDA + float16 when present, else CPU + float32)."""
    import torch

    has_cuda = torch.cuda.is_available()
    if spec.device == "cuda" and not has_cuda:
        raise ModelError("diffusion.device", "'cuda' asked for, but torch sees no CUDA GPU on this machine; use 'auto' or 'cpu'")
    device = "cuda" if spec.device == "cuda" or (spec.device == "auto" and has_cuda) else "cpu"
    if spec.dtype == "auto":
        return device, torch.float16 if device == "cuda" else torch.float32
    if spec.dtype == "float16" and device == "cpu":
        raise ModelError("diffusion.dtype", "'float16' needs a CUDA device; use 'float32' or 'bfloat16' on a CPU")
    return device, getattr(torch, spec.dtype)


def _is_single_file(reference: str) -> bool:
    return reference.lower().endswith(SINGLE_FILE_SUFFIXES)


def _load(cls: Any, where: str, reference: str, config: str | None, base_dir: Path, **kwargs: Any) -> Any:
    """`cls.from_single_file` or `cls.from_pretrained`, with failures as one ModelError line."""
    model = resolve_model(reference, base_dir)
    try:
        if _is_single_file(reference):
            config_ref = resolve_model(config, base_dir) if config else None
            return cls.from_single_file(model, config=config_ref, **kwargs)
        return cls.from_pretrained(model, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(where, f"cannot load {reference!r}: {first}") from None


def load_controlnets(spec: DiffusionSpec, base_dir: Path, dtype: Any) -> list[Any]:
    from diffusers import ControlNetModel

    return [
        _load(ControlNetModel, f"diffusion.controlnet[{i}].model", net.model, net.config, base_dir, torch_dtype=dtype)
        for i, net in enumerate(spec.controlnet)
    ]


def load_pipeline(spec: DiffusionSpec, base_dir: Path, device: str, dtype: Any) -> Any:
    """The diffusers pipeline for the recipe's family and mode, on `device`, parts checked to fit."""
    import diffusers

    controlnets = load_controlnets(spec, base_dir, dtype)
    cls = getattr(diffusers, PIPELINE_CLASSES[(spec.family, spec.mode, bool(controlnets))])
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if controlnets:
        kwargs["controlnet"] = controlnets[0] if len(controlnets) == 1 else diffusers.MultiControlNetModel(controlnets)
    if spec.family == "sd15":
        kwargs.update(safety_checker=None, requires_safety_checker=False, feature_extractor=None)
    pipe = _load(cls, "diffusion.model", spec.model, spec.config, base_dir, **kwargs)
    problems = fit_problems(dict(pipe.unet.config), dict(pipe.vae.config), [dict(c.config) for c in controlnets])
    if problems:
        raise RecipeError(problems)
    if spec.scheduler != "default":
        scheduler_cls = getattr(diffusers, SCHEDULER_CLASSES[spec.scheduler])
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def fit_problems(unet: dict[str, Any], vae: dict[str, Any], controlnets: list[dict[str, Any]]) -> list[str]:
    """Why ControlNets (configs) cannot drive this UNet and VAE, one line each (empty: they fit)."""
    vae_scale = 2 ** (len(vae["block_out_channels"]) - 1)
    problems = []
    for i, net in enumerate(controlnets):
        where = f"diffusion.controlnet[{i}]"
        for key in ("cross_attention_dim", "block_out_channels", "down_block_types", "layers_per_block"):
            mine, base = net.get(key), unet.get(key)
            if key == "down_block_types" and mine and base:  # ControlNet-XS style names differ; count must match
                mine, base = len(mine), len(base)
            if _plain(mine) != _plain(base):
                problems.append(f"{where}: does not fit the base model: {key} is {_plain(mine)} but the UNet's is {_plain(base)}")
        steps = len(net.get("conditioning_embedding_out_channels") or (16, 32, 96, 256)) - 1
        if 2**steps != vae_scale:
            problems.append(
                f"{where}: does not fit the base model: its conditioning embedding downsamples {2**steps}x "
                f"but the VAE's scale factor is {vae_scale}x"
            )
    return problems


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _config(cls_name: str, where: str, reference: str, config: str | None, base_dir: Path, subfolder: str | None) -> dict[str, Any] | None:
    """A component's config without its weights (None for a single file with no config folder)."""
    import diffusers

    if _is_single_file(reference) and not config:
        return None
    source = resolve_model(config if _is_single_file(reference) else reference, base_dir)
    try:
        return dict(getattr(diffusers, cls_name).load_config(source, subfolder=subfolder))
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0]
        raise ModelError(where, f"cannot load {reference!r}: {first}") from None


def model_sources(spec: DiffusionSpec, base_dir: Path) -> list[tuple[str, str, bool]]:
    """(field, where its model comes from, whether that rules out rendering here) for every model the recipe names.

    Checked without network or torch: a local file or folder, else the local hub cache (the file
    every repo of that kind holds), else a download at render, which HF_HUB_OFFLINE=1 forbids.
    """
    try:
        from huggingface_hub import constants, try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
    except ImportError:  # the diffusion extra is not installed: render will say so
        return [(where, f"{reference!r}: not checked (pip install 'synthgen[diffusion]')", False) for where, reference, _ in _model_references(spec)]
    sources = []
    for where, reference, marker in _model_references(spec):
        resolved = resolve_model(reference, base_dir)
        if resolved != reference or Path(resolved).exists():
            sources.append((where, f"local {'folder' if Path(resolved).is_dir() else 'file'} {resolved}", False))
            continue
        try:
            cached = try_to_load_from_cache(reference, marker)
        except HFValidationError:
            sources.append((where, f"{reference!r} is neither an existing path nor a valid hub id", True))
            continue
        if isinstance(cached, str):
            sources.append((where, f"{reference!r} found in the local Hugging Face cache ({constants.HF_HUB_CACHE})", False))
        elif constants.is_offline_mode():
            sources.append((where, f"{reference!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set: it cannot be downloaded", True))
        else:
            sources.append((where, f"{reference!r} is not in the local Hugging Face cache: it will be downloaded from the hub at render", False))
    return sources


def _model_references(spec: DiffusionSpec) -> list[tuple[str, str, str]]:
    """(field, reference, the file its hub repo must hold) of every model the recipe names."""
    references = [("diffusion.model", spec.model, "model_index.json"), ("diffusion.config", spec.config, "model_index.json")]
    for i, net in enumerate(spec.controlnet):
        references += [(f"diffusion.controlnet[{i}].model", net.model, "config.json"), (f"diffusion.controlnet[{i}].config", net.config, "config.json")]
    if spec.trust.scorer in ("clip", "detector"):
        references.append(("diffusion.trust.model", spec.trust.model, "config.json"))
    return [(where, reference, marker) for where, reference, marker in references if reference]


def preflight(recipe: Recipe) -> None:
    """Check model sources, device, and fit from configs alone, before any image is made (and before torch loads)."""
    try:
        unavailable = [f"{where}: {source}" for where, source, fatal in model_sources(recipe.diffusion, recipe.base_dir) if fatal]
        if unavailable:
            raise RecipeError(unavailable)
        _check_configs(recipe.diffusion, recipe.base_dir)
    except RecipeError as error:
        where = f"{recipe.source}: " if recipe.source else ""
        raise RecipeError([where + problem for problem in error.problems]) from None


def _check_configs(spec: DiffusionSpec, base_dir: Path) -> None:
    device_and_dtype(spec)
    unet = _config("UNet2DConditionModel", "diffusion.model", spec.model, spec.config, base_dir, "unet")
    vae = _config("AutoencoderKL", "diffusion.model", spec.model, spec.config, base_dir, "vae")
    nets = [_controlnet_config(i, net, base_dir) for i, net in enumerate(spec.controlnet)]
    if spec.trust.scorer in ("clip", "detector") and spec.trust.model:
        _check_trust_model(str(spec.trust.model), base_dir)
    if unet is not None and vae is not None and all(n is not None for n in nets):
        problems = fit_problems(unet, vae, nets)  # type: ignore[arg-type]
        if problems:
            raise RecipeError(problems)


def _check_trust_model(reference: str, base_dir: Path) -> None:
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(resolve_model(reference, base_dir))
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0]
        raise ModelError("diffusion.trust.model", f"cannot load {reference!r}: {first}") from None


def _controlnet_config(i: int, net: ControlNetSpec, base_dir: Path) -> dict[str, Any] | None:
    return _config("ControlNetModel", f"diffusion.controlnet[{i}].model", net.model, net.config, base_dir, None)
