"""Per-image time of the Blender backend against the BlenderProc backend on the same Scenes.

Both render the quickstart recipe's Scenes (same size, samples, objects, lights) in the same run;
the first image of each is dropped (start-up). Needs the `blenderproc` extra.

    .venv/bin/python benchmarks/blenderproc_vs_blender.py [--images 10] [--width 320 --height 240]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def seconds_per_image(backend, scenes) -> float:
    times = []
    for scene in scenes:
        start = time.perf_counter()
        backend.render(scene)
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / len(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()

    from dataclasses import replace

    from synthgen.backends import create_backend
    from synthgen.recipe import load_recipe
    from synthgen.sampling import sample

    recipe = load_recipe(REPO / "scenes" / "quickstart.yaml")
    scenes = [replace(sample(recipe, i), width=args.width, height=args.height, samples=args.samples) for i in range(args.images + 1)]
    results = {}
    for name in ("blender", "blenderproc"):
        backend = create_backend(name)
        try:
            results[f"{name}_s"] = round(seconds_per_image(backend, scenes), 4)
        finally:
            backend.close()
    results["blenderproc_over_blender"] = round(results["blenderproc_s"] / results["blender_s"], 3)
    print(json.dumps({"size": f"{args.width}x{args.height}", "samples": args.samples, **results}, indent=2))


if __name__ == "__main__":
    main()
