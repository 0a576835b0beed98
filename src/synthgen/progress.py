"""Progress bars for long work: rich bars on stderr, shown only on a terminal (logs and pipes stay clean)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import Progress

T = TypeVar("T")


def progress_bar(show: bool = True, *columns: Any) -> Progress:
    """A `Progress` (rich's default `columns` unless given) to add tasks to; a no-op when `show` is false or stderr is not a terminal."""
    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not (show and console.is_terminal))


def tracked(items: Iterable[T], description: str, enabled: bool) -> Iterator[T]:
    """Iterate `items`, with a bar when `enabled` and stderr is a terminal."""
    with progress_bar(enabled) as bar:
        yield from bar.track(items, description=description)


def hugging_face_bars_off() -> None:
    """No download or weight-loading bars from huggingface_hub, transformers and diffusers (for logs
    and pipes): through the environment for what is imported later, through their own switches for
    what is imported already."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    for library in ("transformers", "diffusers"):
        if library in sys.modules:
            sys.modules[library].utils.logging.disable_progress_bar()


def clock(seconds: float) -> str:
    """`seconds` as H:MM:SS (an ETA or elapsed time)."""
    whole = round(max(seconds, 0))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
