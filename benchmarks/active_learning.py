"""The active-learning curve with a simulated annotator: AP against images reviewed, per strategy.

    PYTHONPATH=src:tests python benchmarks/active_learning.py --rounds 3 --budget 6

A controlled set: coloured squares on noise (the tests' shapes), a detector first trained on a few
synthetic images. Each round, for each strategy: the current detector pre-labels the pool, `review
export --to coco` picks `budget` unreviewed images by the strategy, an oracle answers them with the
ground truth (through `review import`, as a person's COCO corrections), a detector is trained from
the first one on every image reviewed so far, and its AP50 is measured on a fixed validation set.
`random` is a deterministic shuffle (images ordered by a hash of their name), the baseline.
Same seeds, same models: each strategy differs only in which images the oracle saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from helpers import make_shapes_dataset

from synthgen.formats.coco import to_coco
from synthgen.formats.folder import load_dataset
from synthgen.real.evaluate import evaluate_datasets
from synthgen.real.prelabel import make_detector
from synthgen.real.prelabel.folder import prelabel_folder
from synthgen.real.review import export_review, import_review, is_reviewed
from synthgen.real.train import train

SMALL = {"box_batch_size_per_image": 32, "rpn_batch_size_per_image": 64, "rpn_pre_nms_top_n_test": 200,
         "rpn_post_nms_top_n_test": 50, "box_detections_per_img": 20}  # fmt: skip
SETTINGS = {"arch": "fasterrcnn_mobilenet_v3_large_fpn", "lr": 0.02, "image_size": 96, "options": SMALL,
            "show_progress": False}  # fmt: skip


def prelabel(model: Path, photos: Path, out: Path) -> Path:
    prelabel_folder(photos, out, make_detector(None, weights=model, threshold=0.05), show_progress=False)
    return out


def pick(pre: Path, strategy: str, budget: int, work: Path) -> list[str]:
    """The file names the strategy sends for review this round."""
    if strategy == "random":
        pending = [s.file_name for s in load_dataset(pre).samples if not is_reviewed(s)]
        return sorted(pending, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:budget]
    queue = export_review(pre, budget, "coco", work / "queue.json", strategy=strategy)
    return [item.sample.file_name for item in queue]


def oracle(truth, names: list[str], out: Path) -> Path:
    """A person's COCO corrections: the ground truth of every image reviewed so far."""
    chosen = [s for s in truth.samples if s.file_name in set(names)]
    out.write_text(json.dumps(to_coco(type(truth)(truth.categories, chosen))))
    return out


def run_strategy(strategy: str, args, root: Path, truth, first: Path, synth: Path, val: Path) -> list[float]:
    reviewed: list[str] = []
    model, curve = first, []
    for round_number in range(1, args.rounds + 1):
        work = root / strategy.replace("+", "_") / f"round{round_number}"
        work.mkdir(parents=True)
        pre = prelabel(model, Path(truth.root) / "images", work / "pre")
        if reviewed:  # the earlier rounds' answers stay reviewed
            import_review(pre, oracle(truth, reviewed, work / "earlier.json"), work / "pre_reviewed")
            pre = work / "pre_reviewed"
        reviewed += pick(pre, strategy, args.budget, work)
        import_review(pre, oracle(truth, reviewed, work / "answers.json"), work / "reviewed")
        model = work / "model"
        train([synth, work / "reviewed"], model, epochs=args.epochs, weights=first, **SETTINGS)
        predicted = prelabel(model, val / "images", work / "val_pred")
        curve.append(evaluate_datasets(load_dataset(val), load_dataset(predicted)).ap50)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=36)
    parser.add_argument("--val", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--strategies", default="random,uncertainty,entropy,margin,diversity,uncertainty+diversity")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        synth = make_shapes_dataset(root / "synth", 8, seed=0, classes=["square"]).root
        truth = make_shapes_dataset(root / "pool", args.pool, seed=1, classes=["square"])
        val = root / "val"
        make_shapes_dataset(val, args.val, seed=2, classes=["square"])
        first = root / "det0"
        train([synth], first, epochs=args.epochs, **SETTINGS)
        start = evaluate_datasets(load_dataset(val), load_dataset(prelabel(first, val / "images", root / "p0"))).ap50
        print(f"AP50 before any review: {start:.3f}")
        print("strategy".ljust(24) + "".join(f"{args.budget * r:>8}" for r in range(1, args.rounds + 1)) + "   seconds")
        for strategy in args.strategies.split(","):
            began = time.perf_counter()
            curve = run_strategy(strategy, args, root, truth, first, Path(synth), val)
            seconds = time.perf_counter() - began
            print(strategy.ljust(24) + "".join(f"{ap:8.3f}" for ap in curve) + f"   {seconds:7.0f}", flush=True)


if __name__ == "__main__":
    main()
