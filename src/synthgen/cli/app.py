"""The `synthgen` Typer app and its top-level options; the commands live in the modules beside it."""

from __future__ import annotations

import sys

import typer

from synthgen import __version__
from synthgen.cli.errors import App
from synthgen.cli.help import example
from synthgen.progress import hugging_face_bars_off

app = App(
    help="synthgen: recipes in, labelled datasets out (Blender renders with exact COCO / YOLO labels).",
    **example("synthgen validate scenes/quickstart.yaml", "synthgen render scenes/quickstart.yaml -o out/quickstart"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if not sys.stderr.isatty():  # bars are for terminals: Hugging Face's download and weight-loading bars too
        hugging_face_bars_off()
    if version:
        typer.echo(f"synthgen {__version__}")
        raise typer.Exit()
