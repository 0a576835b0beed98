"""The `export` command: a dataset or a mix output in a layout other tools expect (Datumaro, Hugging Face)."""

from __future__ import annotations

from pathlib import Path

import typer

from synthgen.cli.app import app
from synthgen.cli.help import example


@app.command(**example("synthgen export out/train_set --to hf -o out/train_set_hf"))
def export(
    dataset: str = typer.Argument(..., help="Dataset folder, mix output (train/ val/ [test/]) or other input (COCO file, YOLO, VOC)."),
    to: str = typer.Option(..., "--to", help="datumaro (COCO in Datumaro's layout) or hf (a Hugging Face imagefolder)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (must not exist)."),
    link: str = typer.Option("copy", "--link", help="How images are placed: copy, hardlink or symlink."),
) -> None:
    """Write a dataset in another tool's layout, e.g. `synthgen export out/run1 --to hf -o out/run1-hf`."""
    from synthgen.formats.export import export_dataset

    result = export_dataset(dataset, to, out, link)
    for split, images in result.images.items():
        typer.echo(f"{out}: {to}: {split}: {images} images, {result.instances[split]} instances")
    for note in result.notes:
        typer.echo(f"{out}: {note}")
