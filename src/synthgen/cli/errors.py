"""The one error printer of the command line.

Every command is wrapped by `one_line_errors`: a `SynthgenError` (bad recipe, input, flag, output
folder) or an `OSError` (a file that cannot be read or written: missing, no permission, disk full)
prints as `error: ...` lines on stderr with exit code 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console

from synthgen.errors import SynthgenError

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one `error:` line per line of `message` (no rich markup: `[min, max]` stays) and exit."""
    for line in message.splitlines() or [""]:
        console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True, style="red")
    raise typer.Exit(code)


def describe_os_error(error: OSError) -> str:
    """`FILE: reason` for an OSError, in one line."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return reason
    target = f" -> {error.filename2}" if error.filename2 else ""
    return f"{error.filename}{target}: {reason}"


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a user's mistake is a short message, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SynthgenError as error:
            fail(str(error))
        except OSError as error:
            fail(describe_os_error(error))

    return wrapper


class App(typer.Typer):
    """A Typer app whose commands all report errors through `one_line_errors` (help laid out by `cli.help`)."""

    def __init__(self, **kwargs: Any):
        from synthgen.cli.help import HelpGroup

        super().__init__(cls=HelpGroup, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        from synthgen.cli.help import HelpCommand

        register = super().command(*args, cls=HelpCommand, **kwargs)
        return lambda function: register(one_line_errors(function))
