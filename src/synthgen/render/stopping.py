"""Stopping a run: Ctrl-C around Blender calls, and worker processes that die with their parent.

Blender runs its render engines as Python callbacks and prints, then swallows, any exception
raised in them, so a KeyboardInterrupt raised during a render vanishes and the run goes on.
`deferred_interrupt` records the signal while Blender runs and raises KeyboardInterrupt when the
call returns; a call still busy `GRACE_SECONDS` after the signal (a long render, which Python
cannot interrupt) ends the process with exit 130 at once. Images are written atomically with
their record last, so the folder resumes either way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

GRACE_SECONDS = 2.0
INTERRUPTED = 128 + signal.SIGINT


@contextmanager
def deferred_interrupt(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Run the block with Ctrl-C held back until it ends (see the module docstring).

    `cleanup` runs before a forced exit (the Blender scratch folder). Outside the main thread, or
    where SIGINT is not Python's default handler (ignored in pool workers, or owned by Ray), the
    block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = threading.Event()
    left = threading.Event()
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    watcher = threading.Thread(target=_force_exit_after_grace, args=(reader, left, cleanup), daemon=True)
    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: received.set())
    previous_fd = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
    watcher.start()
    try:
        yield
    finally:
        left.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        os.close(writer)
        watcher.join()
        os.close(reader)
    if received.is_set():
        raise KeyboardInterrupt


def _force_exit_after_grace(reader: int, left: threading.Event, cleanup: Callable[[], object] | None) -> None:
    """Wait for SIGINT's wake-up byte; if the block has not ended GRACE_SECONDS later, exit 130."""
    while (data := os.read(reader, 64)) and signal.SIGINT not in data:
        continue
    if not data or left.wait(GRACE_SECONDS):
        return
    os.write(2, b"error: interrupted during a Blender call; stopped at once (run the same command again to resume)\n")
    if cleanup is not None:
        cleanup()
    os._exit(INTERRUPTED)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when `parent_pid` does (Linux: PR_SET_PDEATHSIG; elsewhere a watch thread)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        threading.Event().wait(1.0)
    os._exit(1)
