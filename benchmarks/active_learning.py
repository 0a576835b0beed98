"""The active-learning curve with a simulated annotator: AP against images reviewed, per strategy,
as the mean over several seeds with its spread.

    PYTHONPATH=src:tests python benchmarks/active_learning.py            # the controlled set below
    PYTHONPATH=src:tests python benchmarks/active_learning.py --seeds 1 --strategies random,diversity

Each round, for each strategy: the current detector pre-labels the pool, `review export --to coco`
picks `--budget` unreviewed images by the strategy (diversity on the current detector's backbone,
or on thumbnails with `--embed thumbnails`), an oracle answers them with the ground truth (through
`review import`, as a person's COCO corrections), a detector is trained from the first one on the
synthetic images and every image reviewed so far, and its AP50 is measured on a fixed validation
set. `random` is a deterministic shuffle (images ordered by a hash of their name and the seed), the
baseline. Each seed draws new images and a new training seed; within a seed every strategy starts
from the same detector and differs only in which images the oracle saw. `--json FILE` writes every
curve, the images each strategy sent, and the summary after each seed.

The set: coloured squares on noise (the tests' shapes). The first detector learns from `--synth`
synthetic images. The pool holds `--pool` photos, of which every `--empty`-th shows only noise
(1: all of them, as the idle frames of a fixed camera), each `--repeats` times with fresh sensor
noise (near-duplicate video frames), plus `--novel` photos, once each, of squares in a colour the
synthetic set lacks. The validation set holds `--val` photos like the synthetic ones and
`--val-novel` of the novel look. The default, 36 idle frames and 12 novel photos measured on 24
novel ones, is a pool where most images teach nothing: choosing should beat chance there, and the
benchmark says whether it does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from helpers import make_shapes_dataset
from PIL import Image

from synthgen.fileio import atomic_write_json, atomic_write_png
from synthgen.formats.coco import to_coco
from synthgen.formats.folder import load_dataset, write_labels
from synthgen.real.evaluate import evaluate_datasets
from synthgen.real.prelabel import make_detector
from synthgen.real.prelabel.folder import prelabel_folder
from synthgen.real.review import export_review, import_review, is_reviewed
from synthgen.real.train import train

SMALL = {"box_batch_size_per_image": 32, "rpn_batch_size_per_image": 64, "rpn_pre_nms_top_n_test": 200,
         "rpn_post_nms_top_n_test": 50, "box_detections_per_img": 20}  # fmt: skip
SETTINGS = {"arch": "fasterrcnn_mobilenet_v3_large_fpn", "image_size": 96, "options": SMALL, "show_progress": False}
NOVEL_LOOK = {"colours": {"square": (60, 200, 230)}}  # a colour the synthetic squares lack, on the same noise


def length(args, steps: int) -> dict[str, int]:
    """How long a detector trains: `--epochs` passes when given, else `steps` optimiser steps."""
    return {"epochs": args.epochs} if args.epochs else {"steps": steps}


def prelabel(model: Path, photos: Path, out: Path) -> Path:
    prelabel_folder(photos, out, make_detector(None, weights=model, threshold=0.05), show_progress=False)
    return out


def pick(pre: Path, strategy: str, budget: int, work: Path, seed: int, embed_weights: Path | None) -> list[str]:
    """The file names the strategy sends for review this round."""
    if strategy == "random":
        pending = [s.file_name for s in load_dataset(pre).samples if not is_reviewed(s)]
        return sorted(pending, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())[:budget]
    queue = export_review(pre, budget, "coco", work / "queue.json", strategy=strategy, embed_weights=embed_weights)
    return [item.sample.file_name for item in queue]


def oracle(truth, names: list[str], out: Path) -> Path:
    """A person's COCO corrections: the ground truth of every image reviewed so far."""
    chosen = [s for s in truth.samples if s.file_name in set(names)]
    out.write_text(json.dumps(to_coco(type(truth)(truth.categories, chosen))))
    return out


def with_samples(truth, samples):
    """`truth` holding `samples` instead, with its labels file rewritten to match."""
    truth = replace(truth, samples=samples)
    write_labels(truth, Path(truth.root))
    return truth


def with_empty_photos(truth, every: int, seed: int):
    """Every `every`-th photo of the pool replaced by noise alone, with no labels (0: none)."""
    if every < 1:
        return truth
    rng, samples = np.random.default_rng(seed), []
    for index, sample in enumerate(truth.samples):
        if index % every == 0:
            atomic_write_png(Path(truth.root) / sample.file_name, rng.integers(0, 80, (sample.height, sample.width, 3), dtype=np.uint8))
            sample = replace(sample, instances=[])
        samples.append(sample)
    return with_samples(truth, samples)


def with_repeats(truth, repeats: int, seed: int):
    """Each pool photo `repeats` times, the copies with fresh sensor noise (+-6 levels) and the same
    labels: a pool of near-duplicates, as consecutive video frames are (1: as drawn)."""
    if repeats <= 1:
        return truth
    rng, samples = np.random.default_rng(seed), []
    for sample in truth.samples:
        samples.append(sample)
        pixels = np.asarray(Image.open(Path(truth.root) / sample.file_name), dtype=np.int16)
        for copy in range(1, repeats):
            name = sample.file_name.replace(".png", f"_{copy}.png")
            noisy = np.clip(pixels + rng.integers(-6, 7, pixels.shape), 0, 255).astype(np.uint8)
            atomic_write_png(Path(truth.root) / name, noisy)
            samples.append(replace(sample, file_name=name))
    return with_samples(truth, samples)


def with_novel_photos(truth, count: int, scratch: Path, seed: int):
    """`truth` with `count` more photos in NOVEL_LOOK, once each, named `novel_*.png`."""
    if count < 1:
        return truth
    novel = make_shapes_dataset(scratch, count, seed=seed + 1000, classes=["square"], **NOVEL_LOOK)
    samples = list(truth.samples)
    for sample in novel.samples:
        name = sample.file_name.replace("images/", "images/novel_")
        (Path(truth.root) / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(truth.root) / name).write_bytes((scratch / sample.file_name).read_bytes())
        samples.append(replace(sample, file_name=name))
    return with_samples(truth, samples)


def run_strategy(
    strategy: str, args, seed: int, root: Path, truth, first: Path, synth: Path, val: Path
) -> tuple[list[float], list[str]]:
    """(AP50 after each round, the images reviewed in the order they were sent)."""
    reviewed: list[str] = []
    model, curve = first, []
    for round_number in range(1, args.rounds + 1):
        work = root / strategy.replace("+", "_") / f"round{round_number}"
        work.mkdir(parents=True)
        pre = prelabel(model, Path(truth.root) / "images", work / "pre")
        if reviewed:  # the earlier rounds' answers stay reviewed
            import_review(pre, oracle(truth, reviewed, work / "earlier.json"), work / "pre_reviewed")
            pre = work / "pre_reviewed"
        reviewed += pick(pre, strategy, args.budget, work, seed, model if args.embed == "backbone" else None)
        import_review(pre, oracle(truth, reviewed, work / "answers.json"), work / "reviewed")
        model = work / "model"
        train([synth, work / "reviewed"], model, lr=args.lr, weights=first, seed=seed, **length(args, args.steps), **SETTINGS)
        predicted = prelabel(model, val / "images", work / "val_pred")
        curve.append(evaluate_datasets(load_dataset(val), load_dataset(predicted)).ap50)
    return curve, reviewed


def run_seed(seed: int, args, root: Path, strategies: list[str]) -> tuple[float, dict[str, list[float]], dict[str, list[str]]]:
    """(AP50 before any review, each strategy's curve, the images it sent) for one seed's images and training."""
    root.mkdir()
    synth = make_shapes_dataset(root / "synth", args.synth, seed=3 * seed, classes=["square"]).root
    truth = make_shapes_dataset(root / "pool", args.pool, seed=3 * seed + 1, classes=["square"])
    truth = with_repeats(with_empty_photos(truth, args.empty, seed), args.repeats, seed)
    val = root / "val"
    make_shapes_dataset(val, args.val, seed=3 * seed + 2, classes=["square"])
    truth = with_novel_photos(truth, args.novel, root / "novel", seed=3 * seed + 1)
    with_novel_photos(load_dataset(val), args.val_novel, root / "val_novel", seed=3 * seed + 2)
    first = root / "det0"
    train([Path(synth)], first, lr=args.lr, seed=seed, **length(args, args.first_steps), **SETTINGS)
    start = evaluate_datasets(load_dataset(val), load_dataset(prelabel(first, val / "images", root / "p0"))).ap50
    curves, sent = {}, {}
    with_objects = {s.file_name for s in truth.samples if s.instances}
    for strategy in strategies:
        began = time.perf_counter()
        curves[strategy], sent[strategy] = run_strategy(strategy, args, seed, root, truth, first, Path(synth), val)
        useful = sum(name in with_objects for name in sent[strategy])
        print(f"  seed {seed} {strategy.ljust(24)}" + "".join(f"{ap:8.3f}" for ap in curves[strategy])
              + f"   {useful}/{len(sent[strategy])} sent show objects   {time.perf_counter() - began:5.0f} s", flush=True)  # fmt: skip
    return start, curves, sent


def summary(runs: list[dict[str, list[float]]]) -> dict[str, dict[str, list[float]]]:
    """Per strategy and budget: mean, sample standard deviation, min and max over the seeds."""
    out = {}
    for strategy in runs[0]:
        columns = list(zip(*(run[strategy] for run in runs)))
        out[strategy] = {
            "mean": [round(statistics.fmean(c), 4) for c in columns],
            "sd": [round(statistics.stdev(c), 4) if len(c) > 1 else 0.0 for c in columns],
            "min": [round(min(c), 4) for c in columns],
            "max": [round(max(c), 4) for c in columns],
        }
    return out


def print_summary(table: dict[str, dict[str, list[float]]], args, seeds: int) -> None:
    print(f"\nAP50, mean ± sd over {seeds} seed(s), by images reviewed")
    print("strategy".ljust(24) + "".join(f"{args.budget * r:>15}" for r in range(1, args.rounds + 1)))
    for strategy, row in table.items():
        print(strategy.ljust(24) + "".join(f"{m:9.3f} ±{s:5.3f}" for m, s in zip(row["mean"], row["sd"])))
    if "random" in table:
        baseline = table["random"]["mean"]
        winners = [s for s, row in table.items() if s != "random" and all(m > b for m, b in zip(row["mean"], baseline))]
        print(f"mean above random at every budget: {', '.join(winners) or 'none'}")


def seeds_above_random(runs: list[dict[str, list[float]]]) -> dict[str, list[int]]:
    """Per strategy and budget: in how many seeds it scored above random on the same images."""
    return {
        strategy: [sum(run[strategy][i] > run["random"][i] for run in runs) for i in range(len(runs[0][strategy]))]
        for strategy in runs[0] if strategy != "random"
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--synth", type=int, default=8)
    parser.add_argument("--pool", type=int, default=36)
    parser.add_argument("--empty", type=int, default=1, help="every N-th pool photo shows only noise (0: none, 1: all)")
    parser.add_argument("--repeats", type=int, default=1, help="each pool photo this many times, as near-duplicate frames (1: none)")
    parser.add_argument("--novel", type=int, default=12, help="this many pool photos, once each, in a look the synthetic set lacks")
    parser.add_argument("--val", type=int, default=0, help="validation photos of the familiar look")
    parser.add_argument("--val-novel", type=int, default=24, help="validation photos of the novel look")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps of each round's training")
    parser.add_argument("--first-steps", type=int, default=400, help="optimiser steps of the first detector")
    parser.add_argument("--epochs", type=int, help="passes over the data instead of steps (both detectors)")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--embed", choices=["backbone", "thumbnails"], default="backbone", help="what diversity measures")
    parser.add_argument("--strategies", default="random,uncertainty,diversity")
    parser.add_argument("--json", type=Path, help="write the curves and the summary here after each seed")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    starts, runs, sent = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            start, curves, names = run_seed(seed, args, Path(folder) / f"seed{seed}", strategies)
            starts.append(start)
            runs.append(curves)
            sent.append(names)
            if args.json:
                atomic_write_json(args.json, {"settings": vars(args) | {"json": str(args.json)}, "before_review": starts,
                                              "curves": runs, "sent": sent, "summary": summary(runs), "seeds_above_random":
                                              seeds_above_random(runs) if "random" in strategies else {}})  # fmt: skip
    print(f"AP50 before any review: {', '.join(f'{s:.3f}' for s in starts)}")
    print_summary(summary(runs), args, len(runs))
    if "random" in strategies:
        for strategy, counts in seeds_above_random(runs).items():
            print(f"{strategy}: seeds above random, by budget: {' '.join(f'{c}/{len(runs)}' for c in counts)}")


if __name__ == "__main__":
    main()
