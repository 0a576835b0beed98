"""The render loop: one task per image index, run by an executor (local pool or Ray), then assembled.

`RenderTask.__call__(index)` is the whole unit of work (sample -> render -> annotate -> write
image, semantic map and record). Executors (`synthgen.render.executors`) only decide where it runs;
since all randomness is in `sample(recipe, index)`, any executor produces the same bytes, and a
run started by one executor can be finished by another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthgen import __version__
from synthgen.fileio import atomic_write_png
from synthgen.formats.folder import write_semantic
from synthgen.labels import Dataset, Provenance, Sample
from synthgen.layout import IMAGES, image_name
from synthgen.recipe import Recipe
from synthgen.render.annotate import annotate
from synthgen.render.backends import preflight, render_scenes
from synthgen.render.executors import EXECUTORS, TaskOutcome
from synthgen.render.executors.local import run_local
from synthgen.render.run_folder import RunOutput, claimed, finalize
from synthgen.render.sampling import sample
from synthgen.render.scene import Render, Scene

if TYPE_CHECKING:
    from synthgen.render.executors.ray import RayExecutor, RayOptions

ProgressCallback = Callable[[int, dict[str, Any] | None], None]


@dataclass
class RenderTask:
    """Renders images of `recipe` into `root`; holds one backend per process, made on first use."""

    recipe: Recipe
    root: Path
    recipe_hash: str
    threads: int = 0
    slot: int | None = None  # this worker's GPU, when the local executor pins one per worker
    _backend: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_backend": None}

    @property
    def backend(self):
        if self._backend is None:
            from synthgen.render.backends import create_backend

            self._backend = create_backend(self.recipe.backend, threads=self.threads, recipe=self.recipe, slot=self.slot)
        return self._backend

    @property
    def batch_size(self) -> int:
        """Images rendered together (diffusion batches them; Blender renders one at a time)."""
        return self.recipe.diffusion.batch_size if self.recipe.backend == "diffusion" else 1

    def __call__(self, index: int) -> dict[str, Any]:
        return self.run_batch([index])[0]

    def run_batch(self, indices: list[int]) -> list[dict[str, Any]]:
        """Render `indices` together, then write each image and its own record."""
        started = time.perf_counter()
        scenes = [sample(self.recipe, index) for index in indices]
        renders = render_scenes(self.backend, scenes)
        seconds = (time.perf_counter() - started) / len(indices)
        return [self._write(scene, render, seconds) for scene, render in zip(scenes, renders)]

    def _write(self, scene: Scene, render: Render, seconds: float) -> dict[str, Any]:
        started = time.perf_counter()
        if self.recipe.augment:
            from synthgen.render.augment import augment_render

            render = augment_render(render, self.recipe.augment, scene.augment_seed)
        name = image_name(scene.index)
        origin = render.origin
        provenance = Provenance(
            source=origin.source,
            backend=self.recipe.backend,
            engine=scene.engine,
            recipe_name=self.recipe.name,
            recipe_hash=self.recipe_hash,
            seed=self.recipe.seed,
            index=scene.index,
            synthgen_version=__version__,
            model_ids=origin.model_ids,
            scores=origin.scores,
            extra=origin.extra,
        )
        result = Sample(
            file_name=f"{IMAGES}/{name}.png",
            width=render.rgb.shape[1],
            height=render.rgb.shape[0],
            instances=self._annotate(render, scene),
            provenance=provenance,
        )
        atomic_write_png(self.root / result.file_name, render.rgb)
        self._write_maps(render, name)
        write_semantic(result, self.root, {name: i + 1 for i, name in enumerate(self.recipe.class_names)})
        record = {"sample": result.to_dict(), "seconds": seconds + time.perf_counter() - started}
        RunOutput(self.root).write_record(scene.index, record)
        return record

    def _annotate(self, render: Render, scene: Scene):
        labels = self.recipe.labels
        return annotate(
            render.instance_map,
            scene,
            labels.min_area,
            amodal=render.amodal,
            truncated=render.truncated,
            min_visibility=labels.min_visibility,
            keep_amodal=labels.amodal,
            instance_info=render.instance_info,
        )

    def _write_maps(self, render: Render, name: str) -> None:
        from synthgen.render.maps import write_depth, write_normals

        if self.recipe.output.depth:
            write_depth(self.root, name, render.depth, self.recipe.output.depth)
        if render.normals is not None:
            write_normals(self.root, name, render.normals)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


@dataclass
class RunResult:
    """What a render run did. `dataset` is None when some images failed (the run is incomplete).

    `images_per_node`: images rendered on each Ray node (empty for the local executor).
    """

    out: Path
    total: int
    rendered: int
    resumed: int
    failures: dict[int, str]
    seconds: float
    dataset: Dataset | None
    images_per_node: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failures


def render_dataset(
    recipe: Recipe,
    out: Path,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    executor: str = "local",
    ray_options: RayOptions | None = None,
) -> RunResult:
    """Render every missing image of `recipe` into `out`, then write the dataset's label files.

    `executor`: "local" (`workers` processes on this machine) or "ray" (`ray_options`: cluster
    address and per-image resources; the recipe's `resources` fill what they leave unset).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}, expected one of {', '.join(EXECUTORS)}")
    started = time.perf_counter()
    preflight(recipe, local=executor == "local")
    with claimed(out, recipe, overwrite=overwrite) as output:
        pending = output.pending(recipe.count)
        outcomes, ray_executor = _start(recipe, out, pending, workers, executor, ray_options)
        failures: dict[int, str] = {}
        rendered = 0
        with closing(outcomes):  # on Ctrl-C or an error, the executor stops its workers at once
            for index, record, error in outcomes:
                if error is None:
                    rendered += 1
                else:
                    failures[index] = error
                if on_progress:
                    on_progress(index, record)
        seconds = time.perf_counter() - started
        dataset = None
        if not failures:
            dataset = finalize(output, recipe, {"seconds": round(seconds, 3), "rendered": rendered})
    images_per_node = ray_executor.images_per_node if ray_executor else {}
    return RunResult(out, recipe.count, rendered, recipe.count - len(pending), failures, seconds, dataset, images_per_node)


def _start(
    recipe: Recipe, out: Path, pending: list[int], workers: int, executor: str, ray_options: RayOptions | None
) -> tuple[Iterator[TaskOutcome], RayExecutor | None]:
    """The outcomes of rendering `pending` with the chosen executor, and the Ray executor (None for local)."""
    if executor == "ray":
        from synthgen.render.executors.ray import RayExecutor, RayOptions

        ray_executor = RayExecutor((ray_options or RayOptions()).for_recipe(recipe))
        task = RenderTask(recipe, out.resolve(), recipe.content_hash(), threads=ray_executor.options.threads)
        return ray_executor.run(task, pending), ray_executor
    task = RenderTask(recipe, out, recipe.content_hash(), threads=max(1, (os.cpu_count() or 1) // max(workers, 1)))
    return run_local(task, pending, workers), None
