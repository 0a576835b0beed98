"""The mixing commands: `mix`, `plan`, `report`, `preview`, `convert`.

Thin: parse, call the mix room, print. Errors are printed by `cli.errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from synthgen.cli.app import app
from synthgen.cli.help import example
from synthgen.errors import InputError

FORMAT_HELP = "Comma-separated exports besides COCO: coco, yolo, yolo-seg, voc."


def _formats(text: str) -> tuple[str, ...]:
    from synthgen.formats import EXPORTS

    formats = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in EXPORTS]
    if unknown:
        raise InputError(f"--format: unknown format {unknown[0]!r}; known: {', '.join(EXPORTS)}")
    return ("coco", *[f for f in formats if f != "coco"])


@app.command(**example("synthgen mix out/real out/synth -o out/train_set --min-per-class 500"))
def mix(
    inputs: list[str] = typer.Argument(..., help="Dataset folders, COCO files (FILE.json or FILE.json::IMAGE_ROOT), YOLO, VOC or BlenderProc folders."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (must not exist): train/, val/ [, test/], manifest.json."),
    min_per_class: int = typer.Option(0, "--min-per-class", help="Add synthetic images until each class has this many train instances."),
    max_synthetic_share: float = typer.Option(1.0, "--max-synthetic-share", help="Cap on the synthetic fraction of train images."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Fraction of real images for validation."),
    test_fraction: float = typer.Option(0.0, "--test-fraction", help="Fraction of real images for test."),
    seed: int = typer.Option(0, "--seed", help="Seed for splits and synthetic choices."),
    formats: str = typer.Option("coco", "--format", help=FORMAT_HELP),
    link: str = typer.Option("copy", "--link", help="How images are placed: copy, hardlink or symlink."),
    rename: list[str] = typer.Option([], "--map", help="Rename a class: 'old=new' (repeatable)."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Comma-separated classes to keep (the rest are dropped)."),
) -> None:
    """Mix real and synthetic datasets into train/val splits (classes by name, real-only validation)."""
    from synthgen.mix.mix import MixOptions, parse_rename
    from synthgen.mix.mix import mix as run_mix

    options = MixOptions(
        min_per_class=min_per_class, max_synthetic_share=max_synthetic_share, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed, formats=_formats(formats), link=link, rename=parse_rename(rename),
        keep=[c for c in classes.split(",") if c.strip()] if classes is not None else None,
    )
    plan = run_mix(inputs, out, options, progress=True)
    for name, items in plan.splits.items():
        synthetic = sum(item.kind == "synthetic" for item in items)
        typer.echo(f"{out / name}: {len(items)} images ({synthetic} synthetic)")
    if plan.duplicates:
        typer.echo(f"duplicates kept once: {len(plan.duplicates)}")
    for name, short in plan.shortfalls.items():
        typer.echo(f"short: {name}: {short.have} of {short.need} train instances ({short.reason})")
    _echo_yolo_notes(out / "train", options.formats, plan.written_splits())


def _echo_yolo_notes(out: Path, formats: tuple[str, ...], splits: tuple[str, ...] = ()) -> None:
    """Say when a YOLO export's `val:` is the training images (there is no validation split)."""
    from synthgen.formats.folder import yolo_notes

    for line in yolo_notes(out, formats, splits):
        typer.echo(line)


@app.command(**example(
    "synthgen plan out/real --min-per-class 500 \\", "    --recipe scenes/tabletop.yaml -o elsewhere/plan.yaml",
    "synthgen plan out/real --from-experiment exp/rare1 \\", "    --recipe scenes/tabletop.yaml -o next.yaml",
))  # fmt: skip
def plan(
    dataset: str = typer.Argument(..., help="The (real) dataset to count."),
    min_per_class: Optional[int] = typer.Option(None, "--min-per-class", help="Instances each class should have (with --from-experiment: default the most common class's count)."),
    recipe: Path = typer.Option(..., "--recipe", help="Base recipe whose classes are rendered."),
    out: Path = typer.Option(..., "-o", "--out", help="Recipe YAML to write."),
    drop_rate: float = typer.Option(0.1, "--drop-rate", help="Expected fraction of rendered instances removed by label filters."),
    from_experiment: Optional[Path] = typer.Option(None, "--from-experiment", help="A `synthgen experiment` folder: plan only the classes synthetic data helped."),
) -> None:
    """Write a recipe that renders what each class is short of."""
    if from_experiment is not None:
        from synthgen.mix.plan_experiment import write_plan_from_experiment

        planned = write_plan_from_experiment(dataset, from_experiment, recipe, out, min_per_class, drop_rate)
        for line in planned.reasons.values():
            typer.echo(line)
        result = planned.plan
    else:
        if min_per_class is None:
            raise InputError("--min-per-class: expected a number of instances (or --from-experiment EXP)")
        result = _plan_counts(dataset, recipe, out, min_per_class, drop_rate)
    typer.echo(f"{out}: {result.images} images" if result.classes else "nothing to render; no recipe written")


def _plan_counts(dataset: str, recipe: Path, out: Path, min_per_class: int, drop_rate: float):
    from synthgen.mix.plan import write_plan

    result = write_plan(dataset, recipe, out, min_per_class, drop_rate)
    for name, have in result.satisfied.items():
        typer.echo(f"{name}: {have} instances, enough")
    for c in result.classes:
        typer.echo(f"{c.name}: {c.have} instances, plan {c.deficit} more at {c.planned_mean:g} per image")
    for c in result.missing:
        typer.echo(f"{c.name}: {c.have} instances, {c.deficit} short, not in {recipe}: cannot plan")
    return result


@app.command(**example("synthgen report out/train_set -o out/train_set/report.html"))
def report(
    datasets: list[str] = typer.Argument(..., help="Dataset folders (a mix output reports each split)."),
    out: Path = typer.Option(..., "-o", "--out", help="HTML file; its PNGs go to <name>_files/ beside it."),
    seed: int = typer.Option(0, "--seed", help="Seed for the contact sheet's sample."),
    rounds: Optional[Path] = typer.Option(None, "--rounds", help="A review rounds log (`review import --rounds`) to show."),
) -> None:
    """Write a static HTML report: class counts by source, box statistics, contact sheets, review rounds."""
    from synthgen.mix.report import write_report

    pngs = write_report(datasets, out, seed, rounds=rounds)
    typer.echo(f"{out}: {len(pngs)} images")


@app.command(**example("synthgen preview out/quickstart -o sheet.png --count 4"))
def preview(
    dataset: str = typer.Argument(..., help="Dataset folder or other input."),
    out: Path = typer.Option(..., "-o", "--out", help="PNG file."),
    count: int = typer.Option(12, "--count", min=1, help="Images on the sheet."),
    seed: int = typer.Option(0, "--seed", help="Seed for the sample."),
) -> None:
    """Write a contact sheet of sampled images with masks and boxes drawn."""
    from synthgen.mix.report import write_preview

    write_preview(dataset, out, count, seed)
    typer.echo(f"{out}: written")


@app.command(**example("synthgen convert some_yolo_folder --from yolo -o out/converted"))
def convert(
    source: str = typer.Argument(..., help="The dataset to convert."),
    from_format: str = typer.Option("auto", "--from", help="yolo, coco, voc, blenderproc, synthgen (default: detect)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output synthgen dataset folder (must not exist)."),
    formats: str = typer.Option("coco", "--format", help=FORMAT_HELP),
    link: str = typer.Option("copy", "--link", help="How images are placed: copy, hardlink or symlink."),
) -> None:
    """Convert a foreign dataset into a synthgen dataset folder."""
    from synthgen.mix.assemble import convert as run_convert

    exports = _formats(formats)
    dataset = run_convert(source, from_format, out, exports, link)
    typer.echo(f"{out}: {len(dataset.samples)} images, {sum(len(s.instances) for s in dataset.samples)} instances")
    _echo_yolo_notes(out, exports)
