"""Backends turn a Scene into a Render. Each lives in its own module with its heavy imports inside."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from synthgen.errors import RecipeError
from synthgen.render.scene import Render, Scene

if TYPE_CHECKING:
    from synthgen.recipe import Recipe


class Backend(Protocol):
    name: str

    def render(self, scene: Scene) -> Render: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchBackend(Backend, Protocol):
    """A backend that renders several Scenes in one call (diffusion batches them on a GPU)."""

    def render_batch(self, scenes: list[Scene]) -> list[Render]: ...


def render_scenes(backend: Backend, scenes: list[Scene]) -> list[Render]:
    """Render `scenes` in one batch where the backend can, else one at a time."""
    if isinstance(backend, BatchBackend):
        return backend.render_batch(scenes)
    return [backend.render(scene) for scene in scenes]


def create_backend(name: str, threads: int = 0, recipe: Recipe | None = None) -> Backend:
    """The backend called `name` (as in a recipe's `backend:`), ready to render."""
    if name == "blender":
        from synthgen.render.backends.blender import BlenderBackend

        return BlenderBackend(threads=threads)
    if name == "blenderproc":
        from synthgen.render.backends.blenderproc import BlenderProcBackend

        return BlenderProcBackend(threads=threads)
    if name == "diffusion" and recipe is not None:
        from synthgen.render.backends.diffusion.backend import DiffusionBackend

        return DiffusionBackend(recipe, threads=threads)
    raise RecipeError([f"backend: unknown backend {name!r}"])


def preflight(recipe: Recipe) -> None:
    """Fail before any rendering (RecipeError) when the recipe's backend cannot run here."""
    if recipe.backend == "diffusion":
        from synthgen.render.backends.diffusion.loading import preflight as diffusion_preflight

        diffusion_preflight(recipe)
