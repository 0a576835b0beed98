"""Ray, connected: the one place synthgen opens or joins a Ray session (`render --executor ray`,
`experiment --executor ray`). Ray is imported inside `connected` only."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from synthgen.errors import ExecutorError


@contextmanager
def connected(address: str | None, ray_logs: bool = False) -> Iterator[Any]:
    """Ray, connected: a session already open in this process as it is, else one opened for the run.

    `address` None (or "local") starts a private Ray instance here; "auto" or HOST:PORT joins a
    cluster. Ray's own log lines (token set-up, "Started a local Ray instance", ...) go to stderr
    at INFO; unless `ray_logs`, only its errors do.
    """
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install 'synthgen[ray]'") from None
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    level = logging.INFO if ray_logs else logging.ERROR
    try:  # workers' chatter stays in Ray's worker logs; errors come back with each task's outcome
        if address in (None, "local"):
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=level)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=level)
    except ConnectionError as error:
        raise ExecutorError(f"cannot join the Ray cluster at {address!r}: {error}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
