"""The `diffusion:` block of a recipe (pydantic only: importing it never imports torch).

Model fields take a Hugging Face hub id, a local folder (`from_pretrained`) or a single
`.safetensors` / `.ckpt` file (`from_single_file`, with `config:` naming a config folder or hub id).
Relative paths are resolved against the recipe's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthgen.errors import InputError
from synthgen.fileio import IMAGE_SUFFIXES, list_files

MODES = ("layout", "restyle", "inpaint")
CONDITIONINGS = ("segmentation", "ade20k", "depth", "canny")
SCHEDULERS = ("default", "ddim", "dpm", "euler", "euler_a", "pndm", "unipc")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
DEFAULT_TEMPLATE = "a photo of a {class}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ControlNetSpec(_Strict):
    """One ControlNet: its weights, which conditioning image it reads, and its weight."""

    model: str = Field(min_length=1)
    config: str | None = None
    conditioning: Literal[CONDITIONINGS] = "segmentation"  # type: ignore[valid-type]
    scale: float = Field(1.0, ge=0.0, le=5.0)


class PromptSpec(_Strict):
    """Per-class prompt templates; `{class}` and every attribute name are filled in per image.

    A plain string (`prompt: "a photo of a {class}"`) is the template.
    """

    template: str = DEFAULT_TEMPLATE
    classes: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    negative: str = ""

    @model_validator(mode="before")
    @classmethod
    def _string_is_template(cls, value: object) -> object:
        return {"template": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_fields(self) -> PromptSpec:
        for where, template in [("template", self.template), *[(f"classes.{k}", v) for k, v in self.classes.items()]]:
            try:
                template.format_map({"class": "", **{name: "" for name in self.attributes}})
            except (KeyError, ValueError, IndexError) as error:
                raise ValueError(f"{where}: template {template!r} uses an unknown or malformed field: {error}") from None
        for name, values in self.attributes.items():
            if not values:
                raise ValueError(f"attributes.{name}: give at least one value")
        return self

    def for_class(self, name: str) -> str:
        return self.classes.get(name, self.template)


class TrustSpec(_Strict):
    """The trust gate: how each generated instance is scored, and what happens below `threshold`.

    Scorers: `contrast` (no model), `clip` (`model`), `detector` (best same-class IoU of a
    pre-labelling detector's predictions: `detector` as `--detector` takes it, with `model` or `weights`).
    `action: drop` keeps the image and turns failed instances into ignore (iscrowd) regions;
    `action: regenerate` retries the image with the next seed up to `retries` times, then drops.
    """

    scorer: Literal["contrast", "clip", "detector", "none"] = "contrast"
    model: str | None = None
    detector: str | None = None
    weights: str | None = None
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    action: Literal["drop", "regenerate"] = "drop"
    retries: int = Field(2, ge=0, le=20)

    @model_validator(mode="after")
    def _scorer_needs(self) -> TrustSpec:
        if self.scorer == "clip" and not self.model:
            raise ValueError("scorer 'clip' needs 'model': a CLIP folder or hub id")
        if self.scorer == "detector":
            if not self.detector:
                raise ValueError("scorer 'detector' needs 'detector': owlv2, owlvit, grounding-dino, yolo or torchvision:<arch>")
            if self.detector in ("owlv2", "owlvit", "grounding-dino") and not self.model:
                raise ValueError(f"detector {self.detector!r} needs 'model': its folder or hub id")
            if self.detector == "yolo" and not self.weights:
                raise ValueError("detector 'yolo' needs 'weights': its .onnx export")
            if self.detector.startswith("torchvision") and not self.weights:
                raise ValueError("a torchvision detector needs 'weights': a weights file or a `synthgen train` folder")
        return self


class DiffusionSpec(_Strict):
    """Everything the diffusion backend needs besides the Scene."""

    mode: Literal[MODES]  # type: ignore[valid-type]
    model: str = Field(min_length=1)
    config: str | None = None
    family: Literal["sd15", "sdxl"] = "sd15"
    controlnet: list[ControlNetSpec] = []
    scheduler: Literal[SCHEDULERS] = "default"  # type: ignore[valid-type]
    steps: int = Field(20, ge=1, le=1000)
    guidance_scale: float = Field(7.5, ge=0.0, le=50.0)
    strength: float | None = Field(None, gt=0.0, le=1.0)
    batch_size: int = Field(1, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    prompt: PromptSpec = PromptSpec()
    backgrounds: str | None = None
    ade20k_classes: dict[str, str] = {}
    trust: TrustSpec = TrustSpec()

    @property
    def denoise_strength(self) -> float:
        """How much of the input the model repaints: `strength`, else 0.6 (restyle) or 1.0 (inpaint)."""
        return self.strength if self.strength is not None else (0.6 if self.mode == "restyle" else 1.0)

    @field_validator("controlnet", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"model": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _mode_needs(self) -> DiffusionSpec:
        if self.mode == "layout" and not self.controlnet:
            raise ValueError("mode 'layout' needs at least one 'controlnet' (the layout is its conditioning)")
        if self.mode == "inpaint" and not self.backgrounds:
            raise ValueError("mode 'inpaint' needs 'backgrounds': a folder of photos")
        if self.mode == "inpaint" and len(self.controlnet) > 1:
            raise ValueError("mode 'inpaint' takes at most one 'controlnet'")
        return self


def is_local(reference: str) -> bool:
    """Whether a model reference names a path (rather than a hub id) by its form."""
    return reference.startswith((".", "/", "~")) or reference.lower().endswith(SINGLE_FILE_SUFFIXES)


def resolve_model(reference: str, base_dir: Path) -> str:
    """A model reference as the loaders take it: an existing path made absolute, else the hub id."""
    path = (base_dir / Path(reference).expanduser()).resolve()
    return str(path) if is_local(reference) or path.exists() else reference


def background_files(spec: DiffusionSpec, base_dir: Path) -> list[Path]:
    """The photos of the `backgrounds` folder, sorted (so an index picks the same photo anywhere)."""
    folder = (base_dir / Path(spec.backgrounds or "").expanduser()).resolve()
    return list_files(folder, IMAGE_SUFFIXES) if folder.is_dir() else []


def class_problems(spec: DiffusionSpec, class_names: list[str]) -> list[str]:
    """Prompt or ADE20K entries for classes the recipe lacks; classes with no ADE20K colour."""
    from synthgen.recipe.ade20k import NAMES

    problems = [f"diffusion.prompt.classes.{name}: not a class of this recipe" for name in spec.prompt.classes if name not in class_names]
    problems += [f"diffusion.ade20k_classes.{name}: not a class of this recipe" for name in spec.ade20k_classes if name not in class_names]
    if any(net.conditioning == "ade20k" for net in spec.controlnet):
        for name in class_names:
            ade = spec.ade20k_classes.get(name, name)
            if ade not in NAMES:
                problems.append(f"diffusion.ade20k_classes.{name}: {ade!r} is not an ADE20K class; map it to one (e.g. 'box', 'bottle', 'vase')")
    return problems


def path_problems(spec: DiffusionSpec, base_dir: Path) -> list[str]:
    """One line per model, config or folder the recipe names as a path that does not exist."""
    named = [("diffusion.model", spec.model), ("diffusion.config", spec.config), ("diffusion.backgrounds", spec.backgrounds)]
    for i, net in enumerate(spec.controlnet):
        named += [(f"diffusion.controlnet[{i}].model", net.model), (f"diffusion.controlnet[{i}].config", net.config)]
    if spec.trust.scorer in ("clip", "detector"):
        named += [("diffusion.trust.model", spec.trust.model), ("diffusion.trust.weights", spec.trust.weights)]
    problems = []
    for where, reference in named:
        if reference is None:
            continue
        must_exist = is_local(reference) or where.endswith(".backgrounds")
        path = (base_dir / Path(reference).expanduser()).resolve()
        if must_exist and not path.exists():
            problems.append(f"{where}: no such file or folder: {path}")
        elif where.endswith(".backgrounds"):
            problems += _background_problems(spec, base_dir, where, path)
    return problems


def _background_problems(spec: DiffusionSpec, base_dir: Path, where: str, path: Path) -> list[str]:
    """The backgrounds folder must hold photos (and not be a system folder or too big to walk)."""
    try:
        found = background_files(spec, base_dir)
    except InputError as error:
        return [f"{where}: {error}"]
    return [] if found else [f"{where}: holds no photos ({' '.join(IMAGE_SUFFIXES)}): {path}"]
