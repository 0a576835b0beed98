"""Scene: a fully decided, backend-neutral description of one image; Render: what a backend makes of it.

Everything random has already been drawn (by `sampling.sample`); a backend turns a Scene into
pixels deterministically. Scenes are plain data and round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthgen.labels import Source

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class SceneObject:
    """One labelled object. `instance_id` (1..N) is its value in the instance map.

    `mesh` is an absolute mesh file path or `primitive:<name>`. The mesh is normalised so its
    largest dimension is 1 and its lowest point sits at z = 0, then scaled by `scale` (metres),
    turned by `tilt` (degrees about x, y) and `yaw` (degrees about z) and moved to `location`, so
    with no tilt it rests on the ground. `velocity` (m/s) only matters with motion blur. Distractors carry `instance_id` 0 (never labelled).
    `texture` is an image file used as base colour instead of `color` (box-projected, no UVs needed).
    """

    instance_id: int
    category: str
    mesh: str
    location: Vector
    yaw: float
    scale: float
    color: tuple[float, float, float]
    roughness: float = 0.5
    metallic: float = 0.0
    texture: str | None = None
    tilt: tuple[float, float] = (0.0, 0.0)
    velocity: Vector = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Camera:
    """A camera at `location` looking at `look_at`; `focal_length` in mm on a 36 mm sensor.

    Realism (all off at their defaults): `fstop` > 0 is a thin lens focused on labelled object
    `focus_instance`; `shutter` > 0 (frames, at 24 fps) blurs what moves, the camera moving
    `velocity` and each object its own `velocity` (m/s, centred on the shutter, so labels are the
    mid-shutter poses); `exposure` is in stops.
    """

    location: Vector
    look_at: Vector
    focal_length: float
    fstop: float = 0.0
    focus_instance: int = 0
    shutter: float = 0.0
    velocity: Vector = (0.0, 0.0, 0.0)
    exposure: float = 0.0

    @property
    def sharp(self) -> bool:
        """True for a pinhole camera without motion blur (its colour render gives exact data passes too)."""
        return self.fstop == 0 and self.shutter == 0


@dataclass(frozen=True)
class Light:
    """A light aimed at the origin. `energy`: watts (point, area) or W/m2 (sun); `size`: metres (area)."""

    kind: str  # point | area | sun
    location: Vector
    energy: float
    color: tuple[float, float, float]
    size: float = 0.0


@dataclass(frozen=True)
class DiffusionChoices:
    """What the diffusion backend needs beyond the layout, drawn in sampling: one prompt per class
    present, the negative prompt, the image's generator seed and (inpaint) its background photo."""

    prompts: dict[str, str]
    negative_prompt: str
    seed: int
    background: str | None = None


@dataclass(frozen=True)
class Scene:
    """One image, fully decided.

    `hdri` (an .exr file, turned `hdri_rotation` degrees about z) replaces the plain `world_color`.
    `background` is a photo composited behind a transparent film, cropped at `background_offset`
    (fractions of the spare width and height) after scaling to cover the image; the ground then
    only catches shadows. `physics_frames` > 0 drops the objects from their `location`s and lets
    them settle first. `passes` asks for extra outputs: `amodal` (each object rendered alone, for
    visibility and amodal masks) and `normals`. `augment_seed` seeds the image's augmentations.
    `samples` caps the samples per pixel; `noise_threshold` > 0 stops a pixel early once its noise
    is below it (adaptive sampling); `denoise` runs OpenImageDenoise with albedo and normal guides,
    taken as clean (`denoise_prefilter` "fast") or denoised first ("accurate").
    """

    index: int
    width: int
    height: int
    engine: str
    samples: int
    denoise: bool
    objects: tuple[SceneObject, ...]
    camera: Camera
    lights: tuple[Light, ...]
    ground: bool
    ground_color: tuple[float, float, float]
    world_color: tuple[float, float, float]
    world_strength: float
    diffusion: DiffusionChoices | None = None
    distractors: tuple[SceneObject, ...] = ()
    hdri: str | None = None
    hdri_rotation: float = 0.0
    background: str | None = None
    background_offset: tuple[float, float] = (0.5, 0.5)
    physics_frames: int = 0
    passes: tuple[str, ...] = ()
    augment_seed: int = 0
    noise_threshold: float = 0.0
    denoise_prefilter: str = "accurate"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        data = dict(data)
        data["objects"] = tuple(SceneObject(**_tuples(o)) for o in data["objects"])
        data["distractors"] = tuple(SceneObject(**_tuples(o)) for o in data.get("distractors", ()))
        data["camera"] = Camera(**_tuples(data["camera"]))
        data["lights"] = tuple(Light(**_tuples(light)) for light in data["lights"])
        if data.get("diffusion") is not None:
            data["diffusion"] = DiffusionChoices(**data["diffusion"])
        return cls(**_tuples(data))


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


@dataclass
class RenderOrigin:
    """The Provenance fields a backend decides (the task adds recipe, seed, index and version)."""

    source: Source = "render"
    model_ids: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Render:
    """What a backend returns for one Scene.

    `rgb`: HxWx3 uint8. `instance_map`: HxW int32, each pixel's `SceneObject.instance_id`
    (0 = nothing labelled), from the renderer's object-index pass. `depth`: HxW float32 metres
    along the view axis (inf where nothing was hit).

    Optional: `amodal` maps each instance id to its HxW bool mask as if nothing occluded it (from a
    render of that object alone; within the frame), `truncated` holds the ids of objects reaching
    outside the frame, `normals` is HxWx3 float32 world-space unit normals (0 where nothing was hit).
    `instance_info`: extra Instance fields per instance id (a trust score, `iscrowd` for dropped
    ones); `origin`: what the backend adds to the image's provenance.
    """

    rgb: np.ndarray
    instance_map: np.ndarray
    depth: np.ndarray
    amodal: dict[int, np.ndarray] | None = None
    truncated: frozenset[int] | None = None
    normals: np.ndarray | None = None
    instance_info: dict[int, dict[str, Any]] = field(default_factory=dict)
    origin: RenderOrigin = field(default_factory=RenderOrigin)
