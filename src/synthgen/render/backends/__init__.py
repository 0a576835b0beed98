"""Backends turn a Scene into a Render. Each lives in its own module with its heavy imports inside."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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


def create_backend(name: str, threads: int = 0, recipe: Recipe | None = None, slot: int | None = None) -> Backend:
    """The backend called `name` (as in a recipe's `backend:`), ready to render; `slot`: this worker's GPU."""
    if name == "blender":
        from synthgen.render.backends.blender import BlenderBackend

        return BlenderBackend(threads=threads, **device_options(recipe, slot))
    if name == "blenderproc":
        from synthgen.render.backends.blenderproc import BlenderProcBackend

        return BlenderProcBackend(threads=threads)
    if name == "diffusion" and recipe is not None:
        from synthgen.render.backends.diffusion.backend import DiffusionBackend

        return DiffusionBackend(recipe, threads=threads)
    raise RecipeError([f"backend: unknown backend {name!r}"])


def device_options(recipe: Recipe | None, slot: int | None = None) -> dict[str, Any]:
    """The Blender backend's device arguments from a recipe's `render:` (the CPU without a recipe)."""
    if recipe is None:
        return {}
    from synthgen.render.backends.blender_device import recipe_where

    spec = recipe.render
    return {"device": spec.device, "gpu_backend": spec.gpu_backend, "slot": slot, "where": recipe_where(recipe.source)}


def needs_gpu(recipe: Recipe) -> bool:
    """Whether the recipe's renders must run on a GPU (`render.device: gpu` or a `gpu_backend`)."""
    return recipe.backend == "blender" and (recipe.render.device == "gpu" or recipe.render.gpu_backend is not None)


def preflight(recipe: Recipe, local: bool = True) -> None:
    """Fail before any rendering when the recipe's backend cannot run here.

    With `local` (the local executor), a recipe that needs a GPU asks Cycles on this machine; on a
    cluster the GPUs are the nodes', so that check happens in each worker instead.
    """
    if local and needs_gpu(recipe):
        from synthgen.render.backends.blender_device import require_gpu

        options = device_options(recipe)
        require_gpu(options["device"], options["gpu_backend"], options["where"])
    if recipe.backend == "diffusion":
        from synthgen.render.backends.diffusion.loading import preflight as diffusion_preflight

        diffusion_preflight(recipe)
