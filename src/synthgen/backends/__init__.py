"""Backends turn a Scene into a Render. Each lives in its own module with its heavy imports inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from synthgen.scene import Scene

if TYPE_CHECKING:
    from synthgen.recipe import Recipe


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
    ones); `provenance`: Provenance fields that differ from a plain render (source, model ids, scores).
    """

    rgb: np.ndarray
    instance_map: np.ndarray
    depth: np.ndarray
    amodal: dict[int, np.ndarray] | None = None
    truncated: frozenset[int] | None = None
    normals: np.ndarray | None = None
    instance_info: dict[int, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def render(self, scene: Scene) -> Render: ...

    def close(self) -> None: ...


def create_backend(name: str, threads: int = 0, recipe: Recipe | None = None) -> Backend:
    """The backend called `name` (as in a recipe's `backend:`), ready to render."""
    if name == "blender":
        from synthgen.backends.blender import BlenderBackend

        return BlenderBackend(threads=threads)
    if name == "blenderproc":
        from synthgen.backends.blenderproc import BlenderProcBackend

        return BlenderProcBackend(threads=threads)
    if name == "diffusion" and recipe is not None:
        from synthgen.backends.diffusion.backend import DiffusionBackend

        return DiffusionBackend(recipe, threads=threads)
    raise ValueError(f"unknown backend {name!r}")


def preflight(recipe: Recipe) -> None:
    """Fail before any rendering (RecipeError) when the recipe's backend cannot run here."""
    if recipe.backend == "diffusion":
        from synthgen.backends.diffusion.loading import preflight as diffusion_preflight

        diffusion_preflight(recipe)
