"""`synthgen estimate`: what a run will cost (time and disk), from a few sample renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from synthgen.cli.app import app
from synthgen.cli.help import example


@app.command(**example("synthgen estimate scenes/quickstart.yaml --count 100000 --workers 8"))
def estimate(
    recipe: Path = typer.Argument(..., help="Recipe YAML file."),
    count: Optional[int] = typer.Option(None, "--count", help="Images of the whole run (default: the recipe's count)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes the run will use."),
    images: int = typer.Option(3, "--images", min=1, help="Sample images to render (the recipe's first ones)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Render a few sample images in a temporary folder; print seconds and disk per image and the projected run."""
    from synthgen.recipe import load_recipe
    from synthgen.render.estimate import estimate as run_estimate

    loaded = load_recipe(recipe).with_overrides(count=count)
    found = run_estimate(loaded, workers=workers, images=images)
    if as_json:
        typer.echo(json.dumps(found.to_dict()))
        return
    spec = loaded.render
    typer.echo(
        f"{recipe}: {found.sampled} sample images, {loaded.image.width}x{loaded.image.height}, {loaded.backend} "
        f"({spec.engine}, quality {spec.quality}: {spec.samples} samples max), device {found.device}, "
        f"{found.threads} threads per worker"
    )
    typer.echo(f"  per image:   {found.seconds_per_image:.2f} s, {_size(found.bytes_per_image)} (Blender start: {found.startup_seconds:.1f} s per worker)")
    typer.echo(
        f"  whole run:   {found.count} images on {workers} worker(s): {found.images_per_worker} images and "
        f"{_duration(found.seconds_per_worker)} per worker (the wall time), {_size(found.disk_bytes)} on disk"
    )


def _size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}"
