"""Reading a recipe file: YAML -> validated `Recipe`, every problem before any rendering.

Each problem is one line, `FILE: field.path: what was expected`, and all of them are reported at
once (schema, asset files, augmentation, diffusion models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synthgen.errors import RecipeError, shown
from synthgen.recipe.diffusion import DiffusionSpec, class_problems, path_problems
from synthgen.recipe.schema import IMAGE_SUFFIXES, MESH_SUFFIXES, Recipe


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
    for where, files in recipe.input_files().items():
        suffixes = MESH_SUFFIXES if where.endswith(".asset") else IMAGE_SUFFIXES
        kind = "mesh" if suffixes is MESH_SUFFIXES else "image"
        if not files:
            problems.append(f"{where}: no {kind} files ({' '.join(suffixes)}) found")
        elif not files[0].exists():
            problems.append(f"{where}: no such file or folder: {files[0]}")
        elif files[0].suffix.lower() not in suffixes:
            problems.append(f"{where}: unsupported {kind} type {files[0].suffix!r}, expected one of {' '.join(suffixes)}")
    if recipe.augment:
        from synthgen.recipe.augmentation import augment_problems

        problems.extend(augment_problems(recipe.augment))
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
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in error and error["type"] not in ("value_error", "assertion_error"):  # ours name their values
        message += f" (got {shown(error['input'])})"
    return message
