"""From "what is rare in my data" to "what to render": a recipe that generates each class's deficit.

Count the instances per class in a (real) dataset; for every class below `min_per_class` that the
base recipe knows, keep it in a copy of the base recipe with a per-image count scaled to its
deficit, and set the image count so the largest deficit is met. Assumptions (mean instances per
image from the base recipe, an expected drop rate for instances removed by the label filters) are
written at the top of the recipe. Every path the base recipe names is rebased to the new file's
folder, so the written recipe resolves wherever it is loaded from.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from synthgen.errors import InputError
from synthgen.fileio import atomic_write_text, read_yaml
from synthgen.formats.sources import open_dataset
from synthgen.labels import instances_per_class, merge_by_name, normalise_name
from synthgen.recipe import load_recipe, parse_recipe
from synthgen.recipe.diffusion import resolve_model
from synthgen.recipe.distributions import Distribution
from synthgen.recipe.schema import BUILTIN_HDRIS

# Every recipe field that names a file or folder, as keys into the YAML data ("*": each item of a list).
PATH_FIELDS = (
    ("classes", "*", "asset"),
    ("classes", "*", "material", "textures"),
    ("scene", "distractors", "asset"),
    ("scene", "distractors", "material", "textures"),
    ("scene", "world", "hdri"),
    ("scene", "background", "photos"),
    ("diffusion", "backgrounds"),
    ("diffusion", "trust", "weights"),
)
# Fields that name a hub id or a path: rebased only when they name a path.
MODEL_FIELDS = (
    ("diffusion", "model"),
    ("diffusion", "config"),
    ("diffusion", "controlnet", "*", "model"),
    ("diffusion", "controlnet", "*", "config"),
    ("diffusion", "trust", "model"),
)


@dataclass
class ClassPlan:
    name: str
    have: int
    deficit: int
    base_mean: float = 0.0
    planned_mean: float = 0.0


@dataclass
class GenerationPlan:
    images: int
    drop_rate: float
    classes: list[ClassPlan]
    missing: list[ClassPlan] = field(default_factory=list)  # short, but not in the base recipe
    satisfied: dict[str, int] = field(default_factory=dict)


def expected_value(distribution: Distribution) -> float:
    """Mean of a recipe distribution (a clipped normal is approximated by its mean)."""
    if distribution.kind == "normal":
        return distribution.values[0]
    if distribution.kind == "uniform":
        return sum(distribution.values) / 2
    return sum(distribution.values) / len(distribution.values)


def count_instances(spec: str) -> Counter:
    """Instances per (normalised) class name in the input `spec`."""
    dataset = open_dataset(spec).dataset
    merge_by_name([dataset])
    return Counter(instances_per_class(dataset.samples, dataset.class_names))


def plan_generation(counts: Counter, recipe_means: dict[str, float], min_per_class: int, drop_rate: float) -> GenerationPlan:
    """Image count and per-image class means that produce every deficit after the expected drop."""
    short = [ClassPlan(name, have, min_per_class - have) for name, have in sorted(counts.items()) if have < min_per_class]
    known = [c for c in short if recipe_means.get(c.name, 0) > 0]
    keep = 1 - drop_rate
    images = max((math.ceil(c.deficit / (recipe_means[c.name] * keep)) for c in known), default=0)
    for c in known:
        c.base_mean = recipe_means[c.name]
        c.planned_mean = math.ceil(10 * c.deficit / (images * keep)) / 10
    satisfied = {name: have for name, have in sorted(counts.items()) if have >= min_per_class}
    return GenerationPlan(images, drop_rate, known, [c for c in short if c not in known], satisfied)


def count_field(mean: float) -> int | dict:
    """A recipe count whose mean is `mean` (a multiple of 0.1): a constant, or a choice of ten values."""
    tenths = round(mean * 10)
    low, above = divmod(tenths, 10)
    if above == 0:
        return low
    return {"choice": [low] * (10 - above) + [low + 1] * above}


def write_plan(dataset_spec: str, base_recipe: Path, out: Path, min_per_class: int, drop_rate: float = 0.1) -> GenerationPlan:
    """Plan what to render and, when anything is short, write the recipe to `out`."""
    means = recipe_means(base_recipe, drop_rate)
    plan = plan_generation(count_instances(dataset_spec), means, min_per_class, drop_rate)
    write_recipe(plan, _header(plan, dataset_spec, base_recipe, min_per_class), base_recipe, out)
    return plan


def recipe_means(base_recipe: Path, drop_rate: float) -> dict[str, float]:
    """The base recipe's mean instances per image of each class (after checking the drop rate)."""
    if not 0 <= drop_rate < 1:
        raise InputError(f"--drop-rate: must be in [0, 1), got {drop_rate}")
    recipe = load_recipe(base_recipe)
    return {normalise_name(c.name): expected_value(c.count) for c in recipe.classes}


def write_recipe(plan: GenerationPlan, header: str, base_recipe: Path, out: Path) -> None:
    """When anything is planned: the header comments and the planned recipe, checked by the schema, to `out`."""
    if plan.classes:
        text = header + yaml.safe_dump(_recipe_data(base_recipe, out, plan), sort_keys=False)
        parse_recipe(yaml.safe_load(text), out)
        atomic_write_text(out, text)


def _recipe_data(base_recipe: Path, out: Path, plan: GenerationPlan) -> dict:
    data = read_yaml(base_recipe)
    planned = {c.name: c for c in plan.classes}
    classes = [
        {**spec, "count": count_field(planned[normalise_name(spec["name"])].planned_mean)}
        for spec in data["classes"]
        if normalise_name(spec["name"]) in planned
    ]
    data = {**data, "name": f"{data['name']}_plan", "count": plan.images, "classes": classes}
    return rebase_paths(data, base_recipe.parent.resolve(), out.parent.resolve())


def rebase_paths(data: dict, base_dir: Path, out_dir: Path) -> dict:
    """Recipe `data` read from `base_dir` with every relative path it names made relative to `out_dir`."""

    def rebase(reference: str, model: bool) -> str:
        if reference == BUILTIN_HDRIS or Path(reference).expanduser().is_absolute():
            return reference
        if model and resolve_model(reference, base_dir) == reference:
            return reference  # a hub id
        return os.path.relpath((base_dir / reference).resolve(), out_dir)

    for keys in PATH_FIELDS:
        data = _replace_at(data, keys, lambda reference: rebase(reference, model=False))
    for keys in MODEL_FIELDS:
        data = _replace_at(data, keys, lambda reference: rebase(reference, model=True))
    return data


def _replace_at(node: object, keys: tuple[str, ...], replace) -> object:
    """A copy of `node` with the string at `keys` replaced ("*" walks a list; a lone item counts as one)."""
    if not keys:
        return replace(node) if isinstance(node, str) else node
    key, rest = keys[0], keys[1:]
    if key == "*":
        return [_replace_at(item, rest, replace) for item in node] if isinstance(node, list) else _replace_at(node, rest, replace)
    if isinstance(node, dict) and key in node:
        return {**node, key: _replace_at(node[key], rest, replace)}
    if isinstance(node, str) and keys == ("model",):
        return replace(node)  # a ControlNet given as a bare string is its model
    return node


def _header(plan: GenerationPlan, dataset_spec: str, base_recipe: Path, min_per_class: int) -> str:
    lines = [
        f"# Plan from `synthgen plan {dataset_spec} --min-per-class {min_per_class} --recipe {base_recipe}`.",
        f"# Assumes {plan.drop_rate:.0%} of rendered instances are dropped by the label filters.",
    ]
    for c in plan.classes:
        lines.append(
            f"# {c.name}: has {c.have}, needs {c.deficit} more; {c.planned_mean:g} per image "
            f"(base recipe: {c.base_mean:g}) x {plan.images} images x {1 - plan.drop_rate:g} kept"
        )
    lines += [f"# {c.name}: has {c.have}, needs {c.deficit} more, but the base recipe has no such class" for c in plan.missing]
    return "\n".join(lines) + "\n"
