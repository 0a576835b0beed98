"""One error model. Every problem a user can fix is a `SynthgenError`: its message is one line (or a
few, one per problem) naming the file and the field, and the command line prints it without a
traceback. Anything else is a bug in synthgen and keeps its traceback.

Rooms raise these classes or their own subclasses of them (`MixError`, `PrelabelError`, ...).
"""

from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 60) -> str:
    """A value the user gave, as an error message quotes it (`repr`, long values cut)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SynthgenError(Exception):
    """A problem with what the user gave: a recipe, an input, a flag, an output folder."""


class RecipeError(SynthgenError, ValueError):
    """A recipe that cannot be used; `problems` holds one `FILE: field.path: message` line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class ModelError(RecipeError):
    """A model the recipe names cannot be loaded or does not fit the others (one line)."""

    def __init__(self, where: str, message: str):
        super().__init__([f"{where}: {message}"])


class InputError(SynthgenError, ValueError):
    """An input (dataset, label file, image, option) that cannot be used; the message names file and field."""


class FormatError(InputError):
    """A label file (COCO, YOLO, VOC, BlenderProc, Label Studio) that cannot be read into the label model."""


class UnsafePathError(InputError):
    """A file name that points outside the folder it must stay in."""


class OutputError(SynthgenError):
    """The output folder cannot be used for this run."""


class OutputExistsError(OutputError, FileExistsError):
    """The output folder is already there; nothing was written."""


class ExecutorError(SynthgenError):
    """The chosen executor cannot run (not installed, bad options, cluster unreachable)."""


class BackendError(SynthgenError):
    """A backend that cannot start here (missing package, unsupported version, no device)."""
