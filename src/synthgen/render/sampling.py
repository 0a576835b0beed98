"""`sample(recipe, index) -> Scene`: the only place that draws random numbers.

Every draw comes from one generator seeded by (recipe seed, index), so image `index` can be
rebuilt alone, on any machine, in any order.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import replace

import numpy as np

from synthgen.recipe import IMAGE_SUFFIXES, ClassSpec, DistractorSpec, MaterialSpec, Recipe
from synthgen.recipe.diffusion import background_files
from synthgen.render.scene import Camera, DiffusionChoices, Light, Scene, SceneObject

PLACEMENT_TRIES = 200
FOOTPRINT = math.sqrt(2) / 2  # bounding-circle radius of a unit square footprint
REACH = math.sqrt(1.5)  # bounding-sphere radius, about the base centre, of a unit mesh


def generator(seed: int, index: int) -> np.random.Generator:
    """The generator for image `index` of a run seeded `seed`."""
    return np.random.default_rng([seed, index])


def sample(recipe: Recipe, index: int) -> Scene:
    """Draw every random choice for image `index` and return the decided Scene."""
    rng = generator(recipe.seed, index)
    spec = recipe.scene
    drafts: list[tuple[ClassSpec | DistractorSpec, float]] = [
        (c, _scale(c, rng)) for c in recipe.classes for _ in range(int(c.count.draw(rng)))
    ]
    labelled = len(drafts)
    drafts += [(spec.distractors, _scale(spec.distractors, rng)) for _ in range(int(spec.distractors.count.draw(rng)))]
    physics = spec.placement == "physics"
    spread = spec.physics.spread if physics else 1.0
    positions = _place([scale * s.size * FOOTPRINT * spread for s, scale in drafts], rng)
    heights = _drop_heights([scale * s.size for s, scale in drafts], recipe, rng) if physics else [0.0] * len(drafts)
    objects = [
        _object(recipe, s, scale * s.size, i + 1 if i < labelled else 0, (x, y, z), physics, rng)
        for i, ((s, scale), (x, y), z) in enumerate(zip(drafts, positions, heights))
    ]
    world = spec.world
    hdris = recipe.files(world.hdri, IMAGE_SUFFIXES)
    photos = recipe.files(spec.background.photos, IMAGE_SUFFIXES) if spec.background else []
    scene = Scene(
        index=index,
        width=recipe.image.width,
        height=recipe.image.height,
        engine=recipe.render.engine,
        samples=recipe.render.samples,
        denoise=recipe.render.denoise,
        noise_threshold=recipe.render.noise_threshold,
        denoise_prefilter=recipe.render.denoise_prefilter,
        objects=tuple(objects[:labelled]),
        distractors=tuple(objects[labelled:]),
        camera=_camera(recipe, objects[:labelled], rng),
        lights=_lights(recipe, rng),
        ground=spec.ground,
        ground_color=_color(rng, saturation=(0.0, 0.3), value=(0.3, 0.8)),
        world_color=_color(rng, saturation=(0.0, 0.2), value=(0.6, 1.0)),
        world_strength=float(world.strength.draw(rng)),
        hdri=_pick(hdris, rng),
        hdri_rotation=float(world.rotation.draw(rng)),
        background=_pick(photos, rng),
        background_offset=(float(rng.uniform()), float(rng.uniform())),
        physics_frames=spec.physics.frames if physics else 0,
        passes=_passes(recipe),
        augment_seed=int(rng.integers(2**31)) if recipe.augment else 0,
    )
    if recipe.diffusion:
        scene = replace(scene, diffusion=_diffusion_choices(recipe, scene.objects, rng))
    return _camera_realism(recipe, scene, rng)


def _camera_realism(recipe: Recipe, scene: Scene, rng: np.random.Generator) -> Scene:
    """Depth of field, motion blur and exposure: drawn last, and only when asked, so every other draw stays as it was."""
    spec = recipe.scene.camera
    updates: dict = {"exposure": float(spec.exposure.draw(rng))}
    objects, distractors = scene.objects, scene.distractors
    if spec.depth_of_field:
        updates["fstop"] = float(spec.depth_of_field.fstop.draw(rng))
        updates["focus_instance"] = scene.objects[int(rng.integers(len(scene.objects)))].instance_id if scene.objects else 0
    if spec.motion_blur:
        blur = spec.motion_blur
        updates["shutter"] = float(blur.shutter.draw(rng))
        updates["velocity"] = _velocity(blur.camera_speed, rng, upright=False)
        objects = tuple(replace(o, velocity=_velocity(blur.object_speed, rng)) for o in objects)
        distractors = tuple(replace(o, velocity=_velocity(blur.object_speed, rng)) for o in distractors)
    return replace(scene, camera=replace(scene.camera, **updates), objects=objects, distractors=distractors)


def _velocity(speed, rng: np.random.Generator, upright: bool = True) -> tuple[float, float, float]:
    """A velocity (m/s) of a drawn speed: horizontal in a uniform direction, or (`upright` False) any direction."""
    magnitude = float(speed.draw(rng))
    if upright:
        angle = rng.uniform(0, 2 * math.pi)
        return (magnitude * math.cos(angle), magnitude * math.sin(angle), 0.0)
    direction = rng.normal(size=3)
    direction /= max(float(np.linalg.norm(direction)), 1e-12)
    return tuple(float(magnitude * v) for v in direction)


def _object(
    recipe: Recipe,
    spec: ClassSpec | DistractorSpec,
    size: float,
    instance_id: int,
    location: tuple[float, float, float],
    tumble: bool,
    rng: np.random.Generator,
) -> SceneObject:
    """One object (a distractor when `instance_id` is 0); `tumble` turns it every way, for dropping."""
    color, roughness, metallic, texture = _material(recipe, spec.material, rng)
    return SceneObject(
        instance_id=instance_id,
        category=spec.name if isinstance(spec, ClassSpec) else "distractor",
        mesh=_mesh(recipe, spec, rng),
        location=tuple(float(v) for v in location),
        yaw=float(rng.uniform(0, 360)),
        scale=size,
        color=color,
        roughness=roughness,
        metallic=metallic,
        texture=texture,
        tilt=(float(rng.uniform(0, 360)), float(rng.uniform(0, 360))) if tumble else (0.0, 0.0),
    )


def _scale(spec: ClassSpec | DistractorSpec, rng: np.random.Generator) -> float:
    return float(spec.scale.draw(rng))


def _mesh(recipe: Recipe, spec: ClassSpec | DistractorSpec, rng: np.random.Generator) -> str:
    if isinstance(spec, DistractorSpec) and not spec.asset:
        return f"primitive:{spec.primitives[int(rng.integers(len(spec.primitives)))]}"
    if isinstance(spec, ClassSpec) and spec.primitive:
        return f"primitive:{spec.primitive}"
    return str(_pick(recipe.asset_files(spec), rng))


def _pick(files: list, rng: np.random.Generator) -> str | None:
    """One of `files` (None if empty); draws either way, so turning a feature off leaves later draws alone."""
    position = rng.uniform()  # rng.integers(1) would draw nothing
    return str(files[min(int(position * len(files)), len(files) - 1)]) if files else None


def _material(
    recipe: Recipe, spec: MaterialSpec, rng: np.random.Generator
) -> tuple[tuple[float, float, float], float, float, str | None]:
    hsv = (float(spec.hue.draw(rng)), float(spec.saturation.draw(rng)), float(spec.value.draw(rng)))
    color = tuple(float(c) for c in colorsys.hsv_to_rgb(*hsv))
    texture = _pick(recipe.files(spec.textures, IMAGE_SUFFIXES), rng)
    return color, float(spec.roughness.draw(rng)), float(spec.metallic.draw(rng)), texture


def _drop_heights(sizes: list[float], recipe: Recipe, rng: np.random.Generator) -> list[float]:
    """Start heights for dropping: each object in its own horizontal slab, so none starts inside another."""
    heights, cursor = [], 0.0
    for size in sizes:
        cursor += float(recipe.scene.physics.drop_height.draw(rng)) + REACH * size
        heights.append(cursor)
        cursor += REACH * size
    return heights


def _passes(recipe: Recipe) -> tuple[str, ...]:
    wanted = {"amodal": recipe.labels.visibility, "normals": recipe.output.normals}
    return tuple(name for name, on in wanted.items() if on)


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


def _camera(recipe: Recipe, objects: list[SceneObject], rng: np.random.Generator) -> Camera:
    """Look at the labelled objects' centre (moved by up to `jitter` per axis) from a sampled orbit."""
    spec = recipe.scene.camera
    distance = float(spec.distance.draw(rng))
    elevation = math.radians(float(spec.elevation.draw(rng)))
    azimuth = math.radians(float(spec.azimuth.draw(rng)))
    if objects:
        target = tuple(float(np.mean([o.location[k] for o in objects])) for k in range(2))
        height = float(np.mean([o.scale for o in objects])) / 2
    else:
        target, height = (0.0, 0.0), 0.0
    jitter = float(spec.jitter.draw(rng))
    dx, dy, dz = (float(v) for v in rng.uniform(-jitter, jitter, size=3))
    target, height = (target[0] + dx, target[1] + dy), height + dz
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
        kind = spec.kinds[int(rng.integers(len(spec.kinds)))]
        distance = float(spec.distance.draw(rng))
        elevation, azimuth = math.radians(float(spec.elevation.draw(rng))), rng.uniform(0, 2 * math.pi)
        location = (
            distance * math.cos(elevation) * math.cos(azimuth),
            distance * math.cos(elevation) * math.sin(azimuth),
            distance * math.sin(elevation),
        )
        color = _color(rng, saturation=(0.0, 0.15), value=(1.0, 1.0))
        energy = spec.sun_strength if kind == "sun" else spec.energy
        size = float(spec.size.draw(rng)) if kind == "area" else 0.0
        lights.append(Light(kind=kind, location=location, energy=float(energy.draw(rng)), color=color, size=size))
    return tuple(lights)


def _diffusion_choices(recipe: Recipe, objects: tuple[SceneObject, ...], rng: np.random.Generator) -> DiffusionChoices:
    """Prompt attributes, the image's generator seed and (inpaint) its background photo.

    Drawn after everything else, so the Scene's layout equals the Blender recipe's layout.
    """
    spec = recipe.diffusion
    attributes = {name: values[int(rng.integers(len(values)))] for name, values in sorted(spec.prompt.attributes.items())}
    present = dict.fromkeys(o.category for o in objects) or {"scene": None}
    prompts = {name: spec.prompt.for_class(name).format_map({**attributes, "class": name}) for name in present}
    seed = int(rng.integers(2**31))
    background = None
    if spec.backgrounds:
        files = background_files(spec, recipe.base_dir)
        background = str(files[int(rng.integers(len(files)))])
    return DiffusionChoices(prompts=prompts, negative_prompt=spec.prompt.negative, seed=seed, background=background)


def _color(
    rng: np.random.Generator, saturation: tuple[float, float] = (0.3, 1.0), value: tuple[float, float] = (0.3, 1.0)
) -> tuple[float, float, float]:
    """A random colour in HSV, returned as linear-ish RGB in [0, 1]."""
    h, s, v = rng.uniform(), rng.uniform(*saturation), rng.uniform(*value)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))
