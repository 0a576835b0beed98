"""The local executor: in this process for one worker, else a pool of spawned worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from synthgen.executors import TaskOutcome, attempt, hold_task, held_task

if TYPE_CHECKING:
    from synthgen.run import RenderTask


def run_local(task: RenderTask, indices: list[int], workers: int) -> Iterator[TaskOutcome]:
    """Run `task` on each index: in this process for one worker, else in a spawned process pool.

    BlenderProc always renders in a worker process: once it has rendered, the interpreter can hang
    at exit (in Blender's C++ teardown), and pool workers end without that teardown.
    """
    if (workers <= 1 or len(indices) <= 1) and task.recipe.backend != "blenderproc":
        try:
            for index in indices:
                yield attempt(task, index)
        finally:
            task.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=hold_task, initargs=(task,)) as pool:
        futures = {pool.submit(_run_in_worker, index): index for index in indices}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool as error:
                yield futures[future], None, f"worker process died: {error}"


def _run_in_worker(index: int) -> TaskOutcome:
    return attempt(held_task(), index)
