"""Scene: a fully decided, backend-neutral description of one image.

Everything random has already been drawn (by `sampling.sample`); a backend turns a Scene into
pixels deterministically. Scenes are plain data and round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class SceneObject:
    """One labelled object. `instance_id` (1..N) is its value in the instance map.

    `mesh` is an absolute mesh file path or `primitive:<name>`. The mesh is normalised so its
    largest dimension is 1 and its lowest point sits at z = 0, then scaled by `scale` (metres),
    turned by `yaw` degrees about z and moved to `location`, so it rests on the ground.
    """

    instance_id: int
    category: str
    mesh: str
    location: Vector
    yaw: float
    scale: float
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Camera:
    location: Vector
    look_at: Vector
    focal_length: float


@dataclass(frozen=True)
class Light:
    kind: str  # point
    location: Vector
    energy: float
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """One image, fully decided."""

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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        data = dict(data)
        data["objects"] = tuple(SceneObject(**_tuples(o)) for o in data["objects"])
        data["camera"] = Camera(**_tuples(data["camera"]))
        data["lights"] = tuple(Light(**_tuples(light)) for light in data["lights"])
        return cls(**_tuples(data))


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
