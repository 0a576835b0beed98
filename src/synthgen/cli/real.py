"""Real-data commands: `prelabel`, `refine`, `review export`, `review import`, `train`, `eval`.

Thin: parse, call the real room, print. Heavy libraries are imported when a command runs, never
by this file. Errors are printed by `cli.errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synthgen.cli.app import app
from synthgen.cli.errors import App
from synthgen.cli.help import example

EXPORT_EXAMPLE = "synthgen review export out/real --budget 200 -o review/tasks.json"
IMPORT_EXAMPLE = "synthgen review import out/real review/export.json -o out/real_reviewed"
review_app = App(
    help="Send uncertain pre-labels to people and take their corrections back.", **example(EXPORT_EXAMPLE, IMPORT_EXAMPLE)
)


@app.command(**example("synthgen prelabel photos -o out/real --weights models/det1"))
def prelabel(
    photos: Annotated[Path, typer.Argument(help="Folder of photos (searched recursively).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Dataset folder to write (must not exist).")],
    detector: Annotated[
        Optional[str], typer.Option(help="torchvision:<arch>, yolo (an ONNX export), owlv2, owlvit or grounding-dino.")
    ] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file, a `synthgen train` folder, or a YOLO .onnx.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Hub id or local folder of an open-vocabulary model.")] = None,
    classes: Annotated[Optional[str], typer.Option(help='Class names: "a,b=synonym|synonym".')] = None,
    classes_file: Annotated[Optional[Path], typer.Option(help="One class (with =synonyms) per line.")] = None,
    from_results: Annotated[Optional[Path], typer.Option(help="Existing COCO results file instead of a model.")] = None,
    images_json: Annotated[Optional[Path], typer.Option(help="COCO file naming --from-results' image ids.")] = None,
    threshold: Annotated[float, typer.Option(help="Keep predictions scoring at least this.")] = 0.3,
    batch_size: Annotated[int, typer.Option(help="Photos per inference batch.")] = 8,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: CUDA when present).")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Leave unreadable photos out instead of failing.")] = False,
    refine: Annotated[Optional[str], typer.Option(help="sam: turn every box into a SAM mask.")] = None,
    sam_model: Annotated[Optional[str], typer.Option(help="Hub id or local folder of a SAM / SAM 2 model.")] = None,
) -> None:
    """Pre-label a folder of real photos with a detector (or existing results) into a dataset folder."""
    from synthgen.real.prelabel import make_detector, parse_classes
    from synthgen.real.prelabel.folder import BadPhotosError, check_batch_size, list_photos, prelabel_folder

    check_batch_size(batch_size)  # before loading a model
    prompts = parse_classes(classes, classes_file)
    found = make_detector(
        detector, weights=weights, model=model, classes=prompts, threshold=threshold, device=device,
        from_results=from_results, images_json=images_json,
        photo_names=list_photos(photos) if from_results else None, refine=refine, sam_model=sam_model,
    )  # fmt: skip
    try:
        summary = prelabel_folder(photos, out, found, batch_size=batch_size, skip_bad=skip_bad)
    except BadPhotosError as error:
        for name, reason in error.bad:
            typer.echo(f"unreadable: {photos / name}: {reason}", err=True)
        raise
    for name, reason in summary.skipped:
        typer.echo(f"skipped: {photos / name}: {reason}", err=True)
    typer.echo(f"{out}: {summary.images} images, {summary.instances} pre-labels ({len(summary.skipped)} skipped)")


@app.command(**example("synthgen refine out/real -o out/real_masks --sam-model facebook/sam-vit-base"))
def refine(
    dataset: Annotated[Path, typer.Argument(help="A dataset folder whose boxes become masks.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Dataset folder to write (must not exist).")],
    sam_model: Annotated[str, typer.Option(help="Hub id or local folder of a SAM / SAM 2 model.")],
    refine: Annotated[str, typer.Option("--refine", help="The refiner: sam.")] = "sam",
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: CUDA when present).")] = None,
) -> None:
    """Turn every box of a dataset folder into an instance mask with SAM (the box prompt is kept)."""
    from synthgen.real.prelabel import make_refiner
    from synthgen.real.prelabel.sam import refine_dataset

    images, masked = refine_dataset(dataset, out, make_refiner(refine, sam_model, device))
    typer.echo(f"{out}: {images} images, {masked} boxes refined into masks")


@review_app.command("export", **example(EXPORT_EXAMPLE))
def review_export(
    dataset: Annotated[Path, typer.Argument(help="A pre-labelled dataset folder.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Tasks file to write (selection.json goes beside it).")],
    budget: Annotated[int, typer.Option(help="How many images to send.")] = 200,
    to: Annotated[str, typer.Option(help="labelstudio, cvat (CVAT for images 1.1 XML) or coco.")] = "labelstudio",
    strategy: Annotated[str, typer.Option(
        help="uncertainty, entropy, margin, disagreement, diversity, or several joined by '+'.")] = "uncertainty",
    masks: Annotated[Optional[str], typer.Option(
        help="brush, polygons or none (default: brush for labelstudio and coco, polygons for cvat).")] = None,
    compare: Annotated[Optional[Path], typer.Option(
        help="A second detector's dataset of the same photos (for --strategy disagreement).")] = None,
    embed_weights: Annotated[Optional[Path], typer.Option(
        help="A `synthgen train` folder whose backbone embeds images for diversity (default: thumbnails).")] = None,
    image_root: Annotated[
        Optional[str], typer.Option(help="URL prefix the tool loads images from (default: Label Studio local files).")
    ] = None,
) -> None:
    """Write the images most worth reviewing as tasks with the predictions (boxes, masks) pre-filled."""
    from synthgen.real.review import export_review

    queue = export_review(dataset, budget, to, out, image_root, strategy=strategy, masks=masks, compare=compare,
                          embed_weights=embed_weights)  # fmt: skip
    typer.echo(f"{out}: {len(queue)} images for review")


@review_app.command("import", **example(IMPORT_EXAMPLE))
def review_import(
    dataset: Annotated[Path, typer.Argument(help="The pre-labelled dataset folder the tasks came from.")],
    export: Annotated[Path, typer.Argument(help="Label Studio JSON export, CVAT for images 1.1 export (XML or zip), or COCO corrections.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Reviewed dataset folder to write.")],
    rounds: Annotated[Optional[Path], typer.Option(
        help="Rounds log (JSON) to record this round in: images sent, edits (created when missing).")] = None,
) -> None:
    """Replace the pre-labels of reviewed images with the people's labels, into a new dataset folder (--rounds: log the round)."""
    from synthgen.real.review import import_review

    reviewed, skipped = import_review(dataset, export, out, rounds)
    typer.echo(f"{out}: {reviewed} images reviewed, {skipped} skipped (kept their pre-labels)")
    if rounds is not None:
        from synthgen.formats.rounds import MANUAL_EDITS, read_rounds

        entry = read_rounds(rounds)[-1]
        edits = ", ".join(f"{entry['edits'][key]} {key}" for key in MANUAL_EDITS)
        typer.echo(f"{rounds}: round {entry['round']}: {entry['images_sent']} images sent, boxes {edits}")


@app.command(**example("synthgen train out/synth out/real_reviewed -o models/det1 --epochs 10"))
def train(
    datasets: Annotated[list[Path], typer.Argument(help="Dataset folders to train on (any mix).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Model folder to write.")],
    arch: Annotated[Optional[str], typer.Option(help="torchvision detector; default: fasterrcnn_mobilenet_v3_large_fpn")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the data.")] = 10,
    steps: Annotated[Optional[int], typer.Option(
        help="Exactly this many optimiser steps instead of --epochs (the same work whatever the data's size).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.01,
    optimizer: Annotated[str, typer.Option(help="sgd (momentum 0.9) or adamw.")] = "sgd",
    image_size: Annotated[Optional[int], typer.Option(help="Resize images to this (shorter side).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="A `synthgen train` folder to start from.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: CUDA when present).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and shuffling.")] = 0,
    include_unreviewed: Annotated[bool, typer.Option("--include-unreviewed", help="Also learn from pre-labels nobody reviewed.")] = False,
) -> None:
    """Train a torchvision detector; the folder it writes loads with `prelabel --weights`."""
    from synthgen.real.train import train as run_training

    config = run_training(
        datasets, out, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
        image_size=image_size, weights=weights, device=device, seed=seed, include_unreviewed=include_unreviewed,
        optimizer=optimizer, steps=steps,
    )  # fmt: skip
    typer.echo(f"{out}: {config['arch']} on {config['images']} images, final loss {config['final_loss']:.4f}")


@app.command("eval", **example("synthgen eval out/real_reviewed/annotations.json predictions.json"))
def evaluate(
    ground_truth: Annotated[Path, typer.Argument(help="COCO file with the true labels.")],
    predictions: Annotated[Path, typer.Argument(help="COCO results list, or a COCO file with scores.")],
    iou_type: Annotated[str, typer.Option(help="bbox or segm.")] = "bbox",
    rounds: Annotated[Optional[Path], typer.Option(
        help="Rounds log (from `review import --rounds`) to record this AP in; GROUND_TRUTH is the fixed validation set.")] = None,
    stage: Annotated[Optional[str], typer.Option(
        help="With --rounds: before (the detector that pre-labelled the round) or after (retrained on its corrections).")] = None,
    round_number: Annotated[Optional[int], typer.Option("--round", help="With --rounds: which round (default: the last).")] = None,
) -> None:
    """COCOeval summary: AP, AP50, AP75 and AP per class (with --rounds, recorded for a review round)."""
    from synthgen.real.evaluate import check_round_options, record_round
    from synthgen.real.evaluate import evaluate as run_evaluation

    validation = check_round_options(rounds, stage, ground_truth, round_number)
    result = run_evaluation(ground_truth, predictions, iou_type)
    typer.echo(f"images {result.images}  predictions {result.predictions}")
    typer.echo(f"AP {result.ap:.3f}  AP50 {result.ap50:.3f}  AP75 {result.ap75:.3f}")
    for name, ap in result.per_class.items():
        typer.echo(f"  {name}: AP {ap:.3f}" if ap >= 0 else f"  {name}: no ground truth")
    if rounds is not None:
        entry = record_round(rounds, stage, result, ground_truth, validation, predictions, round_number)
        typer.echo(f"{rounds}: round {entry['round']}: AP {stage} retraining {result.ap:.3f}")


app.add_typer(review_app, name="review")
