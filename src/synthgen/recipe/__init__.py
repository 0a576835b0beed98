"""Recipes: the YAML schema (`schema`, `diffusion`, `augmentation`), number ranges (`distributions`)
and loading (`loading`). Importing a recipe never imports a renderer, torch or a detector."""

from synthgen.errors import RecipeError
from synthgen.recipe.loading import load_recipe, parse_recipe
from synthgen.recipe.schema import (
    IMAGE_SUFFIXES,
    QUALITY_PRESETS,
    ClassSpec,
    DistractorSpec,
    ImageSpec,
    MaterialSpec,
    Recipe,
    RenderSpec,
    builtin_hdris,
)

__all__ = [
    "IMAGE_SUFFIXES", "QUALITY_PRESETS", "ClassSpec", "DistractorSpec", "ImageSpec", "MaterialSpec", "Recipe", "RecipeError",
    "RenderSpec", "builtin_hdris", "load_recipe", "parse_recipe",
]
