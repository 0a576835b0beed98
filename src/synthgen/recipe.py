"""The recipe schema (version 1) and `load_recipe(path)`.

A recipe is data: classes, assets, ranges and choices. Every problem is reported before any
rendering, one line each: `FILE: field.path: what was expected`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from synthgen.backends.diffusion.spec import DiffusionSpec, class_problems, path_problems
from synthgen.distributions import Count, Number, PositiveNumber, parse

PRIMITIVES = ("cube", "sphere", "cylinder", "cone", "torus", "monkey")
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf")
OUTPUT_FORMATS = ("coco", "yolo", "yolo-seg")


class RecipeError(ValueError):
    """A recipe that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageSpec(Strict):
    width: int = Field(320, ge=8, le=8192)
    height: int = Field(240, ge=8, le=8192)


class RenderSpec(Strict):
    engine: Literal["cycles", "workbench"] = "cycles"
    samples: int = Field(16, ge=1, le=4096)
    denoise: bool = False


class ClassSpec(Strict):
    """A labelled class: a mesh file/folder (`asset`) or a built-in `primitive`."""

    name: str = Field(min_length=1)
    asset: str | None = None
    primitive: Literal[PRIMITIVES] | None = None  # type: ignore[valid-type]
    count: Count = parse(1, integer=True)
    scale: PositiveNumber = parse(1.0)
    size: float = Field(1.0, gt=0, description="largest dimension in metres at scale 1")

    @model_validator(mode="after")
    def _one_source(self) -> ClassSpec:
        if (self.asset is None) == (self.primitive is None):
            raise ValueError("give exactly one of 'asset' or 'primitive'")
        return self


class CameraSpec(Strict):
    distance: PositiveNumber = parse([4.0, 8.0])
    elevation: Number = parse([15.0, 60.0])
    azimuth: Number = parse([0.0, 360.0])
    focal_length: PositiveNumber = parse(35.0)

    @field_validator("elevation")
    @classmethod
    def _elevation_range(cls, value: Any) -> Any:
        low, high = value.bounds
        if low < -89 or high > 89:
            raise ValueError(f"elevation must stay within [-89, 89] degrees, got [{low:g}, {high:g}]")
        return value


class LightSpec(Strict):
    count: Count = parse([1, 3], integer=True)
    energy: PositiveNumber = parse([400.0, 1200.0])


class SceneSpec(Strict):
    ground: bool = True
    camera: CameraSpec = CameraSpec()
    lights: LightSpec = LightSpec()


class LabelSpec(Strict):
    min_area: int = Field(16, ge=0)


class OutputSpec(Strict):
    formats: list[Literal[OUTPUT_FORMATS]] = ["coco"]  # type: ignore[valid-type]

    @field_validator("formats")
    @classmethod
    def _coco_always(cls, formats: list[str]) -> list[str]:
        return ["coco", *[f for f in dict.fromkeys(formats) if f != "coco"]]


class Recipe(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    seed: int = 0
    count: int = Field(ge=1)
    backend: Literal["blender", "diffusion"] = "blender"
    image: ImageSpec = ImageSpec()
    render: RenderSpec = RenderSpec()
    classes: list[ClassSpec] = Field(min_length=1)
    scene: SceneSpec = SceneSpec()
    labels: LabelSpec = LabelSpec()
    output: OutputSpec = OutputSpec()
    diffusion: DiffusionSpec | None = None
    _source: Path | None = PrivateAttr(None)

    @field_validator("classes")
    @classmethod
    def _unique_names(cls, classes: list[ClassSpec]) -> list[ClassSpec]:
        seen = set()
        for spec in classes:
            if spec.name in seen:
                raise ValueError(f"class name {spec.name!r} appears twice")
            seen.add(spec.name)
        return classes

    @model_validator(mode="after")
    def _diffusion_fits(self) -> Recipe:
        if self.backend == "diffusion" and self.diffusion is None:
            raise ValueError("backend 'diffusion' needs a 'diffusion:' block")
        return self

    @property
    def source(self) -> Path | None:
        """The recipe file this was loaded from (None when built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def asset_files(self, spec: ClassSpec) -> list[Path]:
        """Mesh files of a class's asset (a file, or the sorted mesh files of a folder)."""
        path = (self.base_dir / spec.asset).resolve()
        if path.is_dir():
            return sorted(p for p in path.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
        return [path]

    def content_hash(self) -> str:
        """Hash of everything that decides the images, except `count` (so runs can be extended)."""
        data = self.model_dump(mode="json", exclude={"count"})
        data["assets"] = {
            spec.name: [_file_digest(p) for p in self.asset_files(spec)] for spec in self.classes if spec.asset
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def with_overrides(self, count: int | None = None, seed: int | None = None) -> Recipe:
        """A copy with `count` / `seed` replaced (command-line overrides)."""
        updates = {k: v for k, v in {"count": count, "seed": seed}.items() if v is not None}
        if "count" in updates and updates["count"] < 1:
            raise RecipeError([f"--count: must be >= 1, got {count}"])
        copy = self.model_copy(update=updates)
        copy._source = self._source
        return copy


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; raise RecipeError listing every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RecipeError([f"{path}: cannot read recipe: {error.strerror or error}"]) from None
    except yaml.YAMLError as error:
        raise RecipeError([f"{path}: not valid YAML: {str(error).splitlines()[0]}"]) from None
    if not isinstance(data, dict):
        raise RecipeError([f"{path}: expected a mapping of recipe fields at the top level"])
    return parse_recipe(data, path)


def parse_recipe(data: dict[str, Any], path: Path) -> Recipe:
    """Validate recipe data read from `path` (used for error messages and relative paths)."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise RecipeError([f"{path}: {_location(e['loc'])}: {_message(e)}" for e in error.errors()]) from None
    recipe._source = path.resolve()
    problems = [f"{path}: {problem}" for problem in _asset_problems(recipe)]
    if recipe.diffusion is not None:
        problems += [f"{path}: {problem}" for problem in diffusion_problems(recipe, recipe.diffusion)]
    if problems:
        raise RecipeError(problems)
    return recipe


def _asset_problems(recipe: Recipe) -> list[str]:
    problems = []
    for i, spec in enumerate(recipe.classes):
        if spec.asset is None:
            continue
        where = f"classes[{i}].asset"
        path = (recipe.base_dir / spec.asset).resolve()
        if not path.exists():
            problems.append(f"{where}: no such file or folder: {path}")
        elif path.is_dir() and not recipe.asset_files(spec):
            problems.append(f"{where}: folder holds no mesh files ({' '.join(MESH_SUFFIXES)}): {path}")
        elif path.is_file() and path.suffix.lower() not in MESH_SUFFIXES:
            problems.append(f"{where}: unsupported mesh type {path.suffix!r}, expected one of {' '.join(MESH_SUFFIXES)}")
    return problems


def diffusion_problems(recipe: Recipe, spec: DiffusionSpec) -> list[str]:
    """Sizes the diffusion models cannot make, unknown prompt classes, missing model paths."""
    problems = [
        f"image.{side}: must be divisible by 8 for the diffusion backend, got {getattr(recipe.image, side)}"
        for side in ("width", "height")
        if recipe.backend == "diffusion" and getattr(recipe.image, side) % 8
    ]
    return problems + class_problems(spec, recipe.class_names) + path_problems(spec, recipe.base_dir)


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "literal[")):
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required field is missing"
    message = error["msg"]
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
