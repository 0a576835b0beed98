"""Sim-to-sim experiment: how much does a synthetic set help a rare class on a different "real" domain?

    python benchmarks/bench_experiment.py --out /tmp/bench_exp                        # CPU, small, Blender renders
    python benchmarks/bench_experiment.py --out /tmp/bench_exp --device cuda          # a lent GPU: larger, longer
    python benchmarks/bench_experiment.py --out /tmp/bench_exp --domains shapes       # composited shapes, no Blender

`--domains render` (default) renders `benchmarks/sim_to_sim/`: the "real" domain is cubes over the
photos of assets/backgrounds with sun and point lights, colour jitter, noise and blur, and cones in
about one image of six (the rare class); its test set is the same domain with a cone in about half
the images (a test set curated to hold enough of the rare class to measure it). Both go through
their YOLO export (`convert --from yolo`: no provenance, so they count as real photos). The
synthetic domain is the same classes rendered plainly, a cube and a cone in every image.
`--domains shapes` composites squares and rare disks on photo crops instead (no Blender).

Then `synthgen experiment` runs the arms real, real+sim and sim, `plan --from-experiment` plans the
next recipe, and this prints the rare class's AP delta with its 95 % interval, the verdicts, the
plan and the seconds taken (also written to OUT/summary.json).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageFilter

from synthgen.fileio import atomic_write_json, atomic_write_png, atomic_write_text
from synthgen.formats.folder import write_labels
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names
from synthgen.real.experiment import Setup, run_experiment

HERE = Path(__file__).resolve().parent
DOMAINS = HERE / "sim_to_sim"
PHOTOS = sorted((HERE.parent / "assets" / "backgrounds").glob("*.jpg"))
ARMS = ["real", "real+sim", "sim"]
RARE = {"render": "cone", "shapes": "disk"}
CPU = {"real": 48, "synthetic": 96, "test": 48, "size": 96, "steps": 80, "seeds": 2, "batch_size": 4, "workers": 1, "render_workers": 1}
GPU = {"real": 480, "synthetic": 960, "test": 480, "size": 192, "steps": 2000, "seeds": 3, "batch_size": 8, "workers": 0,
       "render_workers": max(1, (os.cpu_count() or 2) // 2)}  # --device cuda; workers 0: one run per GPU


def render_domains(data: Path, counts: dict[str, int], size: int, workers: int) -> Path:
    """Render the real training and test sets and the synthetic set at `size` px wide; the real
    domain's recipe (for the plan)."""
    from synthgen.mix.assemble import convert
    from synthgen.recipe import load_recipe
    from synthgen.render.run import render_dataset

    recipes = {}
    for name, cone in (("real_domain", None), ("real_test", {"choice": [0, 1]}), ("synthetic_domain", None)):
        spec = yaml.safe_load((DOMAINS / f"{'real_domain' if name == 'real_test' else name}.yaml").read_text())
        spec["image"] = {"width": size, "height": size * 3 // 4}
        if "background" in spec["scene"]:
            spec["scene"]["background"]["photos"] = str(HERE.parent / "assets" / "backgrounds")
        if cone is not None:
            spec["classes"][1]["count"] = cone
        recipes[name] = data / "recipes" / f"{name}.yaml"
        atomic_write_text(recipes[name], yaml.safe_dump(spec, sort_keys=False))
    for name, recipe, count, seed in (("real", "real_domain", counts["real"], 11), ("test", "real_test", counts["test"], 12),
                                      ("sim", "synthetic_domain", counts["sim"], 21)):  # fmt: skip
        if (data / name).exists():  # a rerun: the data as it was (the experiment resumes)
            continue
        rendered = data / (f"{name}_render" if name != "sim" else name)
        result = render_dataset(load_recipe(recipes[recipe]).with_overrides(count=count, seed=seed), rendered, workers=workers)
        assert result.complete, result.failures
        if name != "sim":
            convert(str(rendered / "yolo"), "yolo", data / name)
    return recipes["real_domain"]


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
    """A dataset folder of `count` composited images of one domain ("real" or "sim")."""
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
    write_labels(Dataset(categories_from_names(["square", "disk"]), samples, root=str(out)), out)


def shapes_domains(data: Path, counts: dict[str, int], size: int) -> None:
    make_domain(data / "real", "real", counts["real"], 1, size, rare_share=0.06)
    make_domain(data / "test", "real", counts["test"], 2, size, rare_share=0.3)
    make_domain(data / "sim", "sim", counts["sim"], 3, size, rare_share=0.5)


def plan_next(data: Path, exp: Path, recipe: Path | None) -> list[str]:
    """`plan --from-experiment` on the real domain's recipe: one line per class (render domains only)."""
    if recipe is None:
        return []
    from synthgen.mix.plan_experiment import write_plan_from_experiment

    planned = write_plan_from_experiment(str(data / "real"), exp, recipe, data.parent / "next.yaml")
    return [*planned.reasons.values(), f"next.yaml: {planned.plan.images} images" if planned.plan.classes else "nothing to render; no recipe written"]


def arguments() -> argparse.Namespace:
    """The options; `--device cuda` changes the defaults (not the flags given) to GPU's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--domains", choices=sorted(RARE), default="render")
    parser.add_argument("--device", default="cpu", help=f"cpu, or cuda (defaults then: {GPU})")
    for name in ("real", "synthetic", "test"):
        parser.add_argument(f"--{name}", type=int, help=f"{name} images")
    parser.add_argument("--size", type=int, help="image width (renders are 4:3; shapes are square)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--workers", type=int, help="runs at once in local processes (0: one per GPU on CUDA)")
    parser.add_argument("--render-workers", type=int)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: the cores shared out)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--arch", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.set_defaults(**CPU)
    if parser.parse_args().device.startswith("cuda"):
        parser.set_defaults(**GPU)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    data, counts = args.out / "data", {"real": args.real, "test": args.test, "sim": args.synthetic}
    started = time.perf_counter()
    recipe = None
    if args.domains == "render":
        recipe = render_domains(data, counts, args.size, args.render_workers)
    elif not (data / "real").exists():
        shapes_domains(data, counts, args.size)
    rendered = time.perf_counter()
    setup = Setup(
        str(data / "real"), str(data / "test"), {"sim": str(data / "sim")}, ARMS, synthetic_share=0.5, arch=args.arch,
        steps=args.steps, seeds=args.seeds, image_size=args.size * 3 // 4 if recipe else args.size,  # the shorter side
        batch_size=args.batch_size, lr=0.02, device=args.device,
    )  # fmt: skip
    runner = None
    if args.executor == "ray":
        from synthgen.real.experiment_ray import run_jobs_on_ray

        runner = partial(run_jobs_on_ray, address=None)
    exp = args.out / "exp"
    results = run_experiment(setup, exp, args.workers, args.threads, lambda run: print("trained:", run, flush=True), runner)
    rare = RARE[args.domains]
    summary = {
        "domains": args.domains, "device": args.device, "steps": args.steps, "seeds": args.seeds, "size": args.size,
        "data_seconds": round(rendered - started, 1), "experiment_seconds": round(time.perf_counter() - rendered, 1),
        "arm_images": results["setup"]["arm_images"], "test_images": results["setup"]["test_images"],
        "ap": {arm: {c: v["ap"] for c, v in a["classes"].items()} for arm, a in results["arms"].items()},
        "rare_class": rare, "rare_delta": {arm: per_class.get(rare) for arm, per_class in results["deltas"].items()},
        "deltas": results["deltas"], "plan": plan_next(data, exp, recipe),
    }  # fmt: skip
    atomic_write_json(args.out / "summary.json", summary)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
