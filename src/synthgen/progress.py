"""Progress bars for long work: rich bars on stderr, shown only on a terminal (logs and pipes stay clean)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress, track

T = TypeVar("T")


def progress_bar(show: bool = True) -> Progress:
    """A `Progress` to add tasks to; a no-op when `show` is false or stderr is not a terminal."""
    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=not (show and console.is_terminal))


def tracked(items: Iterable[T], description: str, enabled: bool) -> Iterator[T]:
    """Iterate `items`, with a bar when `enabled`."""
    return track(items, description=description, disable=not enabled, console=Console(stderr=True))
