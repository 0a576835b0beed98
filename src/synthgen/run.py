"""The render loop: one task per image index, run in-process or in a local pool, then assembled.

`RenderTask.__call__(index)` is the whole unit of work (sample -> render -> annotate -> write
image, semantic map and record). Executors only decide where it runs; since all randomness is in
`sample(recipe, index)`, any executor produces the same bytes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgen import __version__
from synthgen.annotate import annotate
from synthgen.backends import Render, preflight
from synthgen.dataset import IMAGES, atomic_write_png, image_name, write_semantic
from synthgen.labels import Dataset, Provenance, Sample
from synthgen.output import RunOutput, claim, finalize
from synthgen.recipe import Recipe
from synthgen.sampling import sample
from synthgen.scene import Scene

ProgressCallback = Callable[[int, dict[str, Any] | None], None]


@dataclass
class RenderTask:
    """Renders image `index` of `recipe` into `root`; holds one backend per process, made on first use."""

    recipe: Recipe
    root: Path
    recipe_hash: str
    threads: int = 0
    _backend: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_backend": None}

    @property
    def backend(self):
        if self._backend is None:
            from synthgen.backends import create_backend

            self._backend = create_backend(self.recipe.backend, threads=self.threads, recipe=self.recipe)
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
        render_batch = getattr(self.backend, "render_batch", None)
        renders = render_batch(scenes) if render_batch else [self.backend.render(scene) for scene in scenes]
        seconds = (time.perf_counter() - started) / len(indices)
        return [self._write(scene, render, seconds) for scene, render in zip(scenes, renders)]

    def _write(self, scene: Scene, render: Render, seconds: float) -> dict[str, Any]:
        name = image_name(scene.index)
        provenance = {
            "source": "render",
            "backend": self.recipe.backend,
            "engine": scene.engine,
            "recipe_name": self.recipe.name,
            "recipe_hash": self.recipe_hash,
            "seed": self.recipe.seed,
            "index": scene.index,
            "synthgen_version": __version__,
            **render.provenance,
        }
        result = Sample(
            file_name=f"{IMAGES}/{name}.png",
            width=scene.width,
            height=scene.height,
            instances=annotate(render.instance_map, scene, self.recipe.labels.min_area, render.instance_info),
            provenance=Provenance(**provenance),
        )
        atomic_write_png(self.root / result.file_name, render.rgb)
        write_semantic(result, self.root, {name: i + 1 for i, name in enumerate(self.recipe.class_names)})
        record = {"sample": result.to_dict(), "seconds": seconds}
        RunOutput(self.root).write_record(scene.index, record)
        return record

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


@dataclass
class RunResult:
    """What a render run did. `dataset` is None when some images failed (the run is incomplete)."""

    out: Path
    total: int
    rendered: int
    resumed: int
    failures: dict[int, str]
    seconds: float
    dataset: Dataset | None

    @property
    def complete(self) -> bool:
        return not self.failures


def render_dataset(
    recipe: Recipe,
    out: Path,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Render every missing image of `recipe` into `out`, then write the dataset's label files."""
    started = time.perf_counter()
    preflight(recipe)
    output = claim(out, recipe, overwrite=overwrite)
    pending = output.pending(recipe.count)
    task = RenderTask(recipe, out, recipe.content_hash(), threads=max(1, (os.cpu_count() or 1) // max(workers, 1)))
    failures: dict[int, str] = {}
    rendered = 0
    for index, record, error in run_local(task, pending, workers):
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
    return RunResult(out, recipe.count, rendered, recipe.count - len(pending), failures, seconds, dataset)


TaskOutcome = tuple[int, dict[str, Any] | None, str | None]


def run_local(task: RenderTask, indices: list[int], workers: int) -> Iterator[TaskOutcome]:
    """Run `task` on each index (in batches of `task.batch_size`): in this process for one worker,
    else in a spawned process pool."""
    batches = [indices[i : i + task.batch_size] for i in range(0, len(indices), task.batch_size)]
    if workers <= 1 or len(batches) <= 1:
        try:
            for batch in batches:
                yield from _attempt(task, batch)
        finally:
            task.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(task,)) as pool:
        futures = {pool.submit(_run_in_worker, batch): batch for batch in batches}
        for future in as_completed(futures):
            try:
                yield from future.result()
            except BrokenProcessPool as error:
                yield from ((index, None, f"worker process died: {error}") for index in futures[future])


def _attempt(task: RenderTask, batch: list[int]) -> list[TaskOutcome]:
    try:
        return [(index, record, None) for index, record in zip(batch, task.run_batch(batch))]
    except Exception as error:  # reported per image; the run goes on and ends incomplete
        return [(index, None, f"{type(error).__name__}: {error}") for index in batch]


_worker_task: RenderTask | None = None


def _init_worker(task: RenderTask) -> None:
    global _worker_task
    _worker_task = task


def _run_in_worker(batch: list[int]) -> list[TaskOutcome]:
    assert _worker_task is not None, "worker not initialised"
    return _attempt(_worker_task, batch)
