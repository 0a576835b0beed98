"""Sim-to-sim experiment: how much does a synthetic set help a rare class on a different "real" domain?

    python benchmarks/bench_experiment.py --out /tmp/bench_exp                      # CPU, small
    python benchmarks/bench_experiment.py --out /tmp/bench_exp --gpu                # a lent GPU: larger, longer

The "real" domain: squares (common) and disks (rare, 1 image in 8) in textured colours, pasted on
crops of the photos in assets/backgrounds/, with a random light (brightness and colour cast), blur
and sensor noise; its images carry `human` provenance, as a reviewed set would. The synthetic
domain: flat colours on uniform noise with disks as common as squares (`render` provenance). Then
`synthgen experiment` runs the arms real, real+sim and sim, and this prints the rare class's AP delta
with its 95 % interval, the verdicts and the seconds taken.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from synthgen.fileio import atomic_write_png
from synthgen.formats.folder import write_labels
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names
from synthgen.real.experiment import Setup, run_experiment

CLASSES = ["square", "disk"]
PHOTOS = sorted((Path(__file__).resolve().parents[1] / "assets" / "backgrounds").glob("*.jpg"))


def shape(kind: str, size: int, x: int, y: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    if kind == "square":
        return (abs(xx - x) <= r) & (abs(yy - y) <= r)
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def background(domain: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if domain == "sim":
        return rng.integers(0, 120, (size, size, 3)).astype(np.float32)
    with Image.open(PHOTOS[int(rng.integers(len(PHOTOS)))]) as photo:
        photo = photo.convert("RGB")
        x, y = int(rng.integers(0, photo.width - size)), int(rng.integers(0, photo.height - size))
        return np.asarray(photo.crop((x, y, x + size, y + size)), dtype=np.float32)


def make_domain(out: Path, domain: str, count: int, seed: int, size: int, rare_share: float) -> None:
    """A dataset folder of `count` images of one domain ("real" or "sim")."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        image, taken, instances = background(domain, size, rng), np.zeros((size, size), bool), []
        for _ in range(int(rng.integers(1, 4))):
            kind = "disk" if rng.random() < rare_share else "square"
            r = int(rng.integers(size // 10, size // 5))
            x, y = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
            mask = shape(kind, size, x, y, r)
            if (mask & taken).any():
                continue
            taken |= mask
            colour = np.array((220, 70, 50) if kind == "square" else (50, 190, 230), np.float32)
            if domain == "real":  # textured: the colour varies across the shape
                colour = colour * rng.uniform(0.7, 1.1) + rng.normal(0, 18, (int(mask.sum()), 3))
            image[mask] = colour
            instances.append(Instance.from_mask(kind, mask))
        if domain == "real":  # another light, a softer lens, sensor noise
            image = image * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25, 3)
            image = np.asarray(Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)), np.float32)
            image = image + rng.normal(0, 6, image.shape)
        name = f"images/{index:06d}.png"
        atomic_write_png(out / name, np.clip(image, 0, 255).astype(np.uint8))
        source = "human" if domain == "real" else "render"
        samples.append(Sample(name, size, size, instances, Provenance(source=source, seed=seed, index=index)))
    write_labels(Dataset(categories_from_names(CLASSES), samples, root=str(out)), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gpu", action="store_true", help="CUDA, 10x the images, 2000 steps, 3 seeds")
    parser.add_argument("--real", type=int, default=48)
    parser.add_argument("--synthetic", type=int, default=96)
    parser.add_argument("--test", type=int, default=48)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: the cores shared out)")
    parser.add_argument("--arch", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    args = parser.parse_args()
    scale, device = (10, "cuda") if args.gpu else (1, "cpu")
    steps, seeds = (2000, 3) if args.gpu else (args.steps, args.seeds)
    data = args.out / "data"
    if not data.exists():
        make_domain(data / "real", "real", args.real * scale, 1, args.size, rare_share=0.06)
        make_domain(data / "test", "real", args.test * scale, 2, args.size, rare_share=0.3)
        make_domain(data / "sim", "sim", args.synthetic * scale, 3, args.size, rare_share=0.5)
    setup = Setup(
        str(data / "real"), str(data / "test"), {"sim": str(data / "sim")}, ["real", "real+sim", "sim"], synthetic_share=0.5,
        arch=args.arch, steps=steps, seeds=seeds, image_size=args.size, batch_size=8 if args.gpu else 4, lr=0.02, device=device,
    )  # fmt: skip
    started = time.perf_counter()
    results = run_experiment(setup, args.out / "exp", args.workers, args.threads, on_done=lambda run: print("trained:", run, flush=True))
    seconds = time.perf_counter() - started
    summary = {
        "seconds": round(seconds, 1),
        "arm_images": results["setup"]["arm_images"],
        "ap": {arm: {c: v["ap"] for c, v in a["classes"].items()} for arm, a in results["arms"].items()},
        "deltas": results["deltas"],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
