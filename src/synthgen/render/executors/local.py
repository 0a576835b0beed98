"""The local executor: in this process for one worker, else a pool of spawned worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING

from synthgen.render.executors import TaskOutcome, attempt_batch, held_task, hold_task

if TYPE_CHECKING:
    from synthgen.render.run import RenderTask


def run_local(task: RenderTask, indices: list[int], workers: int) -> Iterator[TaskOutcome]:
    """Run `task` on each index, in batches of `task.batch_size`: in this process for one worker,
    else in a spawned process pool.

    BlenderProc always renders in a worker process: once it has rendered, the interpreter can hang
    at exit (in Blender's C++ teardown), and pool workers end without that teardown.
    """
    batches = [indices[i : i + task.batch_size] for i in range(0, len(indices), task.batch_size)]
    if (workers <= 1 or len(batches) <= 1) and task.recipe.backend != "blenderproc":
        try:
            for batch in batches:
                yield from attempt_batch(task, batch)
        finally:
            task.close()
        return
    context = multiprocessing.get_context("spawn")
    slots = context.Value("i", 0)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(task, slots)) as pool:
        futures = {pool.submit(_run_in_worker, batch): batch for batch in batches}
        for future in as_completed(futures):
            try:
                yield from future.result()
            except BrokenProcessPool as error:
                yield from ((index, None, f"worker process died: {error}") for index in futures[future])


def _start_worker(task: RenderTask, slots) -> None:
    """Hold `task` with the next free slot: worker i (0, 1, ...) renders on GPU i when it renders on GPUs."""
    with slots.get_lock():
        slot, slots.value = slots.value, slots.value + 1
    hold_task(replace(task, slot=slot))


def _run_in_worker(batch: list[int]) -> list[TaskOutcome]:
    return attempt_batch(held_task(), batch)
