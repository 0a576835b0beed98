"""Reading a recipe file: YAML -> validated `Recipe`, every problem before any rendering.

Each problem is one line, `FILE: field.path: what was expected`, and all of them are reported at
once (schema, asset files, augmentation, diffusion models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthgen.errors import InputError, RecipeError, shown
from synthgen.fileio import image_size, read_yaml, regular_file
from synthgen.recipe.diffusion import DiffusionSpec, class_problems, path_problems
from synthgen.recipe.schema import MESH_SUFFIXES, Recipe, file_fields, files_at

MAX_RECIPE_BYTES = 1024**2


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; raise RecipeError listing every problem."""
    path = Path(path)
    try:
        data = read_yaml(path, MAX_RECIPE_BYTES)
    except InputError as error:
        raise RecipeError([str(error)]) from None
    except OSError as error:
        raise RecipeError([f"{path}: cannot read recipe: {error.strerror or error}"]) from None
    if not isinstance(data, dict):
        raise RecipeError([f"{path}: expected a mapping of recipe fields at the top level"])
    return parse_recipe(data, path)


def parse_recipe(data: dict[str, Any], path: Path) -> Recipe:
    """Validate recipe data read from `path` (used for error messages and relative paths); schema and
    file problems are reported together."""
    base_dir = path.resolve().parent
    files = file_fields(data)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        problems = [f"{path}: {_location(e['loc'])}: {_message(e)}" for e in error.errors()]
        raise RecipeError(problems + [f"{path}: {p}" for p in _file_problems(files, base_dir)]) from None
    recipe._source = path.resolve()
    problems = [f"{path}: {problem}" for problem in _file_problems(files, base_dir)]
    if recipe.augment:
        from synthgen.recipe.augmentation import augment_problems

        problems += [f"{path}: {problem}" for problem in augment_problems(recipe.augment)]
    if recipe.diffusion is not None:
        problems += [f"{path}: {problem}" for problem in diffusion_problems(recipe, recipe.diffusion)]
    if problems:
        raise RecipeError(problems)
    return recipe


def _file_problems(fields: dict[str, tuple[str, tuple[str, ...]]], base_dir: Path) -> list[str]:
    """Missing, unsupported, special (FIFO, device) and unreadable files of each file field."""
    problems = []
    for where, (value, suffixes) in fields.items():
        kind = "mesh" if suffixes is MESH_SUFFIXES else "image"
        try:
            files = files_at(base_dir, value, suffixes)
        except InputError as error:
            problems.append(f"{where}: {error}")
            continue
        if not files:
            problems.append(f"{where}: no {kind} files ({' '.join(suffixes)}) found")
        elif not files[0].exists():
            problems.append(f"{where}: no such file or folder: {files[0]}")
        elif files[0].suffix.lower() not in suffixes:
            problems.append(f"{where}: unsupported {kind} type {files[0].suffix!r}, expected one of {' '.join(suffixes)}")
        else:
            problems += [f"{where}: {problem}" for problem in _unreadable(files, kind == "image")]
    return problems


def _unreadable(files: list[Path], images: bool) -> list[str]:
    """The first file that is not a regular file or (`images`) not an image, as a problem."""
    for file in files:
        try:
            regular_file(file)
            if images:
                _check_image(file)
        except InputError as error:
            return [str(error)]
    return []


HDR_MAGIC = {".exr": (b"\x76\x2f\x31\x01",), ".hdr": (b"#?RADIANCE", b"#?RGBE")}


def _check_image(file: Path) -> None:
    """A texture, HDRI or photo must open: EXR and Radiance HDR by their magic bytes (Pillow reads
    neither), the rest by Pillow's header (which also holds the pixel cap)."""
    magic = HDR_MAGIC.get(file.suffix.lower())
    if magic is None:
        image_size(file)
        return
    with open(file, "rb") as opened:
        head = opened.read(16)
    if not head.startswith(magic):
        raise InputError(f"{file}: not an {file.suffix.lower().lstrip('.').upper()} image (its first bytes do not say so)")


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
