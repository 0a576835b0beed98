"""`sample(recipe, index) -> Scene`: the only place that draws random numbers.

Every draw comes from one generator seeded by (recipe seed, index), so image `index` can be
rebuilt alone, on any machine, in any order.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import replace

import numpy as np

from synthgen.backends.diffusion.spec import background_files
from synthgen.recipe import ClassSpec, Recipe
from synthgen.scene import Camera, Light, Scene, SceneObject

PLACEMENT_TRIES = 200
FOOTPRINT = math.sqrt(2) / 2  # bounding-circle radius of a unit square footprint


def generator(seed: int, index: int) -> np.random.Generator:
    """The generator for image `index` of a run seeded `seed`."""
    return np.random.default_rng([seed, index])


def sample(recipe: Recipe, index: int) -> Scene:
    """Draw every random choice for image `index` and return the decided Scene."""
    rng = generator(recipe.seed, index)
    drafts = [(spec, _scale(spec, rng)) for spec in recipe.classes for _ in range(int(spec.count.draw(rng)))]
    positions = _place([scale * spec.size * FOOTPRINT for spec, scale in drafts], rng)
    objects = tuple(
        SceneObject(
            instance_id=i + 1,
            category=spec.name,
            mesh=_mesh(recipe, spec, rng),
            location=(float(x), float(y), 0.0),
            yaw=float(rng.uniform(0, 360)),
            scale=scale * spec.size,
            color=_color(rng),
        )
        for i, ((spec, scale), (x, y)) in enumerate(zip(drafts, positions))
    )
    scene = Scene(
        index=index,
        width=recipe.image.width,
        height=recipe.image.height,
        engine=recipe.render.engine,
        samples=recipe.render.samples,
        denoise=recipe.render.denoise,
        objects=objects,
        camera=_camera(recipe, objects, rng),
        lights=_lights(recipe, rng),
        ground=recipe.scene.ground,
        ground_color=_color(rng, saturation=(0.0, 0.3), value=(0.3, 0.8)),
        world_color=_color(rng, saturation=(0.0, 0.2), value=(0.6, 1.0)),
        world_strength=float(rng.uniform(0.2, 0.6)),
    )
    return replace(scene, extra=_diffusion_choices(recipe, objects, rng)) if recipe.diffusion else scene


def _scale(spec: ClassSpec, rng: np.random.Generator) -> float:
    return float(spec.scale.draw(rng))


def _mesh(recipe: Recipe, spec: ClassSpec, rng: np.random.Generator) -> str:
    if spec.primitive:
        return f"primitive:{spec.primitive}"
    files = recipe.asset_files(spec)
    return str(files[int(rng.integers(len(files)))])


def _place(radii: list[float], rng: np.random.Generator) -> list[tuple[float, float]]:
    """Non-overlapping footprints on the ground: rejection sampling in a disk that grows if crowded."""
    area_radius = max(1.0, 1.5 * math.sqrt(sum(r * r for r in radii)))
    placed: list[tuple[float, float, float]] = []
    for radius in radii:
        for attempt in range(PLACEMENT_TRIES):
            reach = area_radius * (1 + attempt / 50)
            r, theta = reach * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
            x, y = r * math.cos(theta), r * math.sin(theta)
            if all(math.hypot(x - px, y - py) >= radius + pr for px, py, pr in placed):
                break
        placed.append((x, y, radius))
    return [(x, y) for x, y, _ in placed]


def _camera(recipe: Recipe, objects: tuple[SceneObject, ...], rng: np.random.Generator) -> Camera:
    spec = recipe.scene.camera
    distance = float(spec.distance.draw(rng))
    elevation = math.radians(float(spec.elevation.draw(rng)))
    azimuth = math.radians(float(spec.azimuth.draw(rng)))
    if objects:
        target = tuple(float(np.mean([o.location[k] for o in objects])) for k in range(2))
        height = float(np.mean([o.scale for o in objects])) / 2
    else:
        target, height = (0.0, 0.0), 0.0
    location = (
        target[0] + distance * math.cos(elevation) * math.cos(azimuth),
        target[1] + distance * math.cos(elevation) * math.sin(azimuth),
        height + distance * math.sin(elevation),
    )
    return Camera(location=location, look_at=(target[0], target[1], height), focal_length=float(spec.focal_length.draw(rng)))


def _lights(recipe: Recipe, rng: np.random.Generator) -> tuple[Light, ...]:
    spec = recipe.scene.lights
    lights = []
    for _ in range(int(spec.count.draw(rng))):
        distance, elevation, azimuth = rng.uniform(4, 8), math.radians(rng.uniform(30, 80)), rng.uniform(0, 2 * math.pi)
        location = (
            distance * math.cos(elevation) * math.cos(azimuth),
            distance * math.cos(elevation) * math.sin(azimuth),
            distance * math.sin(elevation),
        )
        color = _color(rng, saturation=(0.0, 0.15), value=(1.0, 1.0))
        lights.append(Light(kind="point", location=location, energy=float(spec.energy.draw(rng)), color=color))
    return tuple(lights)


def _diffusion_choices(recipe: Recipe, objects: tuple[SceneObject, ...], rng: np.random.Generator) -> dict:
    """Prompt attributes, the image's generator seed and (inpaint) its background photo.

    Drawn after everything else, so the Scene's layout equals the Blender recipe's layout.
    """
    spec = recipe.diffusion
    attributes = {name: values[int(rng.integers(len(values)))] for name, values in sorted(spec.prompt.attributes.items())}
    present = dict.fromkeys(o.category for o in objects) or {"scene": None}
    prompts = {name: spec.prompt.for_class(name).format_map({**attributes, "class": name}) for name in present}
    choices = {"prompts": prompts, "negative_prompt": spec.prompt.negative, "seed": int(rng.integers(2**31))}
    if spec.backgrounds:
        files = background_files(spec, recipe.base_dir)
        choices["background"] = str(files[int(rng.integers(len(files)))])
    return choices


def _color(
    rng: np.random.Generator, saturation: tuple[float, float] = (0.3, 1.0), value: tuple[float, float] = (0.3, 1.0)
) -> tuple[float, float, float]:
    """A random colour in HSV, returned as linear-ish RGB in [0, 1]."""
    h, s, v = rng.uniform(), rng.uniform(*saturation), rng.uniform(*value)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))
