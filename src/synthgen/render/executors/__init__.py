"""Executors decide where `RenderTask(index)` runs: `local` (this machine) or `ray` (a cluster).

Both yield one `TaskOutcome` per image, in completion order, and share the per-process task
cache below, so a worker process keeps one backend alive across the images it renders.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthgen.render.run import RenderTask

EXECUTORS = ("local", "ray")
OUTPUT_UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
"""OSErrors that stop a run instead of failing one image: disk full, quota, read-only, file too large."""

TaskOutcome = tuple[int, dict[str, Any] | None, str | None]
"""(image index, record or None, error or None)."""


def attempt(task: RenderTask, index: int) -> TaskOutcome:
    """Run `task` on one image; an exception becomes that image's error, never the run's."""
    return attempt_batch(task, [index])[0]


def attempt_batch(task: RenderTask, batch: list[int]) -> list[TaskOutcome]:
    """Run `task` on images rendered together; an exception becomes each of their errors."""
    try:
        return [(index, record, None) for index, record in zip(batch, task.run_batch(batch))]
    except Exception as error:  # reported per image; the run goes on and ends incomplete
        if isinstance(error, OSError) and error.errno in OUTPUT_UNWRITABLE:
            raise  # every image would fail the same way: the run stops with this one line
        return [(index, None, f"{type(error).__name__}: {error}") for index in batch]


_held: RenderTask | None = None


def hold_task(task: RenderTask) -> RenderTask:
    """The one task this worker process holds: the held one if equal to `task`, else `task` (the old one closed).

    Tasks arrive pickled without their backend; holding the first one means one backend (one
    Blender session) per worker process, however many images it renders.
    """
    global _held
    if _held != task:
        if _held is not None:
            _held.close()
        _held = task
    return _held


def held_task() -> RenderTask:
    """The task `hold_task` gave this worker process."""
    assert _held is not None, "worker process holds no task"
    return _held
