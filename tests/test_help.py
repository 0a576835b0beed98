"""`COLUMNS=80 synthgen <command> --help`: every option name whole, no type on flags, an example each."""

from __future__ import annotations

import re
import shlex

import pytest
import typer.main
from typer.testing import CliRunner

from synthgen.cli import app


def _commands(group, path=()):
    """(command path, click command) of every command and group, the app itself first."""
    yield path, group
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from _commands(command, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_reaches_nested_commands():
    paths = [path for path, _ in COMMANDS]
    assert paths[0] == () and ("render",) in paths and ("review", "export") in paths and ("review", "import") in paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=lambda value: " ".join(value) if isinstance(value, tuple) else "")
def test_help_at_80_columns_shows_names_whole_and_an_example(path, command):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="synthgen")
    assert result.exit_code == 0, result.output
    text = result.output
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "<bool>" not in text
    names = [name for param in command.params for name in (*param.opts, *param.secondary_opts) if name.startswith("-")]
    assert "--help" in text and "…" not in text
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{name} is not shown whole"
    example = "\n".join(line.rstrip() for line in text[text.index("Example:") :].splitlines()).replace("\\\n", " ")
    example = example.splitlines()[1:]
    commands = [line.strip() for line in example if line.strip()]
    assert commands and all(line.startswith(" ".join(("synthgen", *path))) for line in commands), commands
    for line in commands:  # each example is a command line synthgen accepts (names, flags, values)
        words, target = shlex.split(line)[1:], typer.main.get_command(app)
        while words and words[0] in getattr(target, "commands", {}):
            target = target.commands[words.pop(0)]
        target.make_context(" ".join(("synthgen", *path)), words)
