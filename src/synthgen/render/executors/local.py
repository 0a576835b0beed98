"""The local executor: in this process for one worker, else a pool of spawned worker processes.

Pool workers die with the parent (SIGKILL or SIGTERM of it included) and ignore Ctrl-C: the
parent, on KeyboardInterrupt or any other error, drops the queued images and ends the workers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING

from synthgen.render.executors import TaskOutcome, attempt_batch, held_task, hold_task
from synthgen.render.stopping import die_with_parent

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
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(task, os.getpid(), context.Value("i", 0)))
    try:
        futures = {pool.submit(_run_in_worker, batch): batch for batch in batches}
        for future in as_completed(futures):
            try:
                yield from future.result()
            except BrokenProcessPool as error:
                yield from ((index, None, f"worker process died: {error}") for index in futures[future])
    except BaseException:  # Ctrl-C, a full disk, the caller closing early: stop now, not after the queue
        _stop(pool)
        raise
    pool.shutdown()


def _start_worker(task: RenderTask, parent_pid: int, slots) -> None:
    """Pool worker start: die with the parent, leave Ctrl-C to it (it stops the pool), hold `task`
    with this worker's slot (worker i renders on GPU i when the recipe renders on GPUs)."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hold_task(replace(task, slot=next_slot(slots)))


def next_slot(slots) -> int:
    """Take the next worker slot (0, 1, ...) from the pool's shared counter."""
    with slots.get_lock():
        slot, slots.value = slots.value, slots.value + 1
    return slot


def _stop(pool: ProcessPoolExecutor) -> None:
    """Drop queued images and end the workers mid-image (their images are not recorded, so they resume)."""
    processes = list(pool._processes.values())  # the executor has no public handle on its workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()


def _run_in_worker(batch: list[int]) -> list[TaskOutcome]:
    return attempt_batch(held_task(), batch)
