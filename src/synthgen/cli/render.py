"""Rendering commands: `validate`, `render`, `check`."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from synthgen import __version__
from synthgen.cli.app import app
from synthgen.cli.errors import console, fail
from synthgen.cli.help import example


class LogMode(str, Enum):
    rich = "rich"
    json = "json"


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


def _load(recipe_path: Path, count: int | None = None, seed: int | None = None):
    from synthgen.recipe import load_recipe

    return load_recipe(recipe_path).with_overrides(count=count, seed=seed)


@app.command(**example("synthgen validate scenes/quickstart.yaml"))
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML file.")) -> None:
    """Check a recipe and print what it will make (and where each diffusion model comes from)."""
    loaded = _load(recipe)
    sources = _model_sources(loaded)
    if unavailable := [f"{recipe}: {where}: {source}" for where, source, fatal in sources if fatal]:
        fail("\n".join(unavailable))
    classes = ", ".join(f"{c.name} ({c.primitive or c.asset})" for c in loaded.classes)
    typer.echo(
        f"{recipe}: ok: recipe {loaded.name!r}, {loaded.count} images, backend {loaded.backend} "
        f"({loaded.render.engine}, {loaded.render.samples} samples), {loaded.image.width}x{loaded.image.height}, "
        f"{len(loaded.classes)} classes: {classes}; formats {', '.join(loaded.output.formats)}"
    )
    for where, source, _ in sources:
        typer.echo(f"  {where}: {source}")


def _model_sources(recipe) -> list[tuple[str, str, bool]]:
    """Where each model of a diffusion recipe comes from (found without network or torch)."""
    if recipe.diffusion is None:
        return []
    from synthgen.render.backends.diffusion.loading import model_sources

    return model_sources(recipe.diffusion, recipe.base_dir)


@app.command(**example("synthgen render scenes/quickstart.yaml -o out/quickstart --count 8 --workers 2"))
def render(
    recipe: Path = typer.Argument(..., help="Recipe YAML file."),
    out: Path = typer.Option(None, "-o", "--out", help="Dataset folder (default: out/<recipe name>)."),
    count: Optional[int] = typer.Option(None, "--count", help="Number of images (overrides the recipe)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed (overrides the recipe)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes, each with its own Blender."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset of another recipe in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
    log: LogMode = typer.Option(LogMode.rich, "--log", help="rich: progress bar and table; json: one JSON line per event."),
    executor: ExecutorName = typer.Option(ExecutorName.local, "--executor", help="local: processes on this machine; ray: a Ray cluster (pip extra 'ray')."),
    address: Optional[str] = typer.Option(None, "--address", help="With --executor ray: 'auto' or HOST:PORT joins a running cluster; default: a private Ray instance here."),
    num_cpus: Optional[float] = typer.Option(None, "--num-cpus", min=0.01, help="With --executor ray: CPUs per image task or GPU actor (default: recipe, else 1; 0.25 for GPU actors)."),
    memory: Optional[str] = typer.Option(None, "--memory", help="With --executor ray: memory reserved per image task or GPU actor, e.g. 2GiB (default: recipe, else none)."),
    num_gpus: Optional[float] = typer.Option(None, "--num-gpus", min=0, help="With --executor ray: GPUs per actor, fractions allowed; > 0 renders in actors that hold the backend (default: recipe, else 0)."),
    gpu_actors: Optional[int] = typer.Option(None, "--gpu-actors", min=1, help="With --executor ray: number of GPU actors (default: the cluster's GPUs / --num-gpus)."),
    max_retries: Optional[int] = typer.Option(None, "--max-retries", min=0, help="With --executor ray: retries of an image whose worker died (default 3)."),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", min=1, help="With --executor ray: images submitted but not finished (default: 2 per task slot or actor)."),
) -> None:
    """Render a recipe into a dataset folder (resumes an interrupted run of the same recipe, with either executor)."""
    from synthgen.render.run import render_dataset
    from synthgen.render.stopping import INTERRUPTED

    ray_flags = {"--address": address, "--num-cpus": num_cpus, "--memory": memory, "--num-gpus": num_gpus,
                 "--gpu-actors": gpu_actors, "--max-retries": max_retries, "--max-in-flight": max_in_flight}
    ray_options = None
    if executor == ExecutorName.ray:
        if workers != 1:
            fail("--workers is for --executor local; on Ray, concurrency follows the cluster's CPUs and --num-cpus")
        ray_options = _ray_options(address, num_cpus, memory, num_gpus, gpu_actors, max_retries, max_in_flight, log == LogMode.json)
    elif given := [flag for flag, value in ray_flags.items() if value is not None]:
        fail(f"{', '.join(given)}: only with --executor ray")
    loaded = _load(recipe, count, seed)
    out = out or Path("out") / loaded.name
    reporter = _Reporter(loaded.count, quiet=quiet, json_log=log == LogMode.json)
    try:
        with reporter:
            result = render_dataset(
                loaded, out, workers=workers, overwrite=overwrite, on_progress=reporter.advance,
                executor=executor.value, ray_options=ray_options,
            )
    except KeyboardInterrupt:
        fail(f"{out}: interrupted; run the same command again to resume", code=INTERRUPTED)
    reporter.finish(result, loaded.class_names)
    if result.complete and not quiet and log == LogMode.rich:
        from synthgen.formats.folder import yolo_notes

        for line in yolo_notes(out, loaded.output.formats):
            typer.echo(line)
    if not result.complete:
        for index, error in sorted(result.failures.items()):
            console.print(f"error: image {index}: {error}", markup=False, highlight=False, soft_wrap=True, style="red")
        fail(f"{out}: incomplete: {len(result.failures)} of {result.total} images failed; run the same command again to retry them", code=2)


def _ray_options(address, num_cpus, memory, num_gpus, gpu_actors, max_retries, max_in_flight, ray_logs):
    """RayOptions from the command line; `--memory` accepts sizes such as 2GiB or 500MB; Ray's logs only with `--log json`."""
    from pydantic import ByteSize, TypeAdapter, ValidationError

    from synthgen.render.executors.ray import RayOptions

    try:
        memory_bytes = int(TypeAdapter(ByteSize).validate_python(memory)) if memory is not None else None
    except ValidationError:
        fail(f"--memory: expected a size such as 2GiB or 500MB, got {memory!r}")
    optional = {"max_retries": max_retries} if max_retries is not None else {}
    return RayOptions(address=address, num_cpus=num_cpus, memory=memory_bytes, num_gpus=num_gpus,
                      gpu_actors=gpu_actors, max_in_flight=max_in_flight, ray_logs=ray_logs, **optional)


def rate_and_eta(done: int, total: int, seconds: float) -> dict[str, str]:
    """The bar's `rate` (images done / wall seconds) and `eta` (the rest at that rate) fields."""
    from synthgen.progress import clock

    rate = done / seconds if seconds > 0 else 0.0
    if not rate:
        return {"rate": "", "eta": ""}
    return {"rate": f"{rate:.3g} img/s", "eta": f"ETA {clock((total - done) / rate)}"}


class _Reporter:
    """Progress bar (rich), JSON lines, or silence.

    Rate and ETA are images done / wall time since the start: results can arrive in bursts (a Ray
    cluster finishing several images at once), which a short-window speed estimate turns into nonsense.
    """

    def __init__(self, total: int, quiet: bool, json_log: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet, self.json_log = quiet, json_log
        self.progress = None
        self.total, self.done, self.started = total, 0, time.monotonic()
        if not quiet and not json_log and console.is_terminal:  # bars are for terminals, not logs
            self.progress = Progress(
                TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), console=console, transient=False,
            )
            self.task = self.progress.add_task("render", total=total, rate="", eta="")

    def __enter__(self):
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.live.transient = exc[0] is not None  # a failed run leaves its one error line, not a bar
            self.progress.__exit__(*exc)

    def advance(self, index: int, record: dict | None) -> None:
        if self.json_log:
            event = {"event": "image", "index": index, "ok": record is not None}
            if record:
                event.update(seconds=round(record["seconds"], 3), instances=len(record["sample"]["instances"]))
            print(json.dumps(event), flush=True)
        elif self.progress:
            self.done += 1
            self.progress.update(self.task, advance=1, **rate_and_eta(self.done, self.total, time.monotonic() - self.started))

    def finish(self, result, class_names: list[str]) -> None:
        from synthgen.labels import instances_per_class
        from synthgen.render.trust import summarize

        counts = instances_per_class(result.dataset.samples if result.dataset else [], class_names)
        rate = result.rendered / result.seconds if result.seconds else 0.0
        summary = {
            "event": "summary", "out": str(result.out), "images": result.total, "rendered": result.rendered,
            "resumed": result.resumed, "failed": len(result.failures), "instances_per_class": counts,
            "seconds": round(result.seconds, 2), "images_per_second": round(rate, 3), "complete": result.complete,
        }
        if result.images_per_node:
            summary["ray_nodes"] = len(result.images_per_node)
        trust = summarize(result.dataset.samples) if result.dataset else None
        if trust:
            summary["trust"] = trust
        warnings = empty_class_warnings(counts, result.total) if result.complete else []
        if warnings:
            summary["warnings"] = warnings
        if self.json_log:
            print(json.dumps(summary), flush=True)
        elif not self.quiet:
            table = Table(title=f"synthgen {__version__}: {result.out}", show_header=False)
            for key in ("images", "rendered", "resumed", "failed", "seconds", "images_per_second", "ray_nodes"):
                if key in summary:
                    table.add_row(key.replace("_", " "), str(summary[key]))
            for name, n in counts.items():
                table.add_row(f"instances: {name}", str(n))
            if trust:
                table.add_row("trust gate", f"{trust['scored']} scored, {trust['kept']} kept, {trust['dropped']} dropped")
            console.print(table)
        if not self.json_log:
            for warning in warnings:
                console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True, style="yellow")


def empty_class_warnings(counts: dict[str, int], images: int) -> list[str]:
    """A class no image holds is almost always a mistake (hidden, too small, or a flat or inside-out mesh)."""
    return [
        f"class {name!r}: 0 instances in {images} images (hidden, below labels.min_area, or a flat mesh?)"
        for name, n in counts.items() if n == 0
    ]


@app.command(**example("synthgen check out/quickstart"))
def check(
    dataset: Path = typer.Argument(..., help="Dataset folder (COCO annotations.json + images) or a COCO file."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="COCO file, if not DATASET/annotations.json."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder that file names are relative to (default: the COCO file's folder or its images/, whichever holds them)."),
) -> None:
    """Strictly validate a COCO dataset folder; one line per problem."""
    from synthgen.formats.check import check_dataset

    if images is not None and not images.is_dir():
        fail(f"--images: not a folder: {str(images)!r}")
    report = check_dataset(dataset, annotations, images)
    if not report.ok:
        fail("\n".join(report.problems))
    typer.echo(f"{dataset}: {report.summary()} (images under {report.image_root})")
