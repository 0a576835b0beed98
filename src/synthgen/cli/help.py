"""How `--help` looks: option names whole at 80 columns, no type shown for flags, an example per command.

typer 0.29 shows the value type of every parameter in the rich help, `<bool>` for flags too (which
take no value), and each flag's `--no-...` twin in its own column; at 80 columns that narrows the
name columns until rich cuts long names (`--include-unrevie…`). Flags here are declared with one
name, and the command classes below give flags an empty type.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _untyped_flags(params: list[Any]) -> list[Any]:
    """`params` with every flag's shown type set to nothing (a flag takes no value)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class HelpCommand(TyperCommand):
    """A command whose help shows no type for flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class HelpGroup(TyperGroup):
    """A command group whose help shows no type for flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


def example(*lines: str) -> dict[str, Any]:
    """`epilog=` keyword for a command: its example command lines, shown after the options."""
    return {"epilog": "Example:\n\n" + "\n".join(f"  {line}" for line in lines)}
