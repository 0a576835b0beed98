"""Seconds per image of the same Scenes through `blender` and `blenderproc`, in one run, and their ratio.

    python benchmarks/backends.py scenes/quickstart.yaml --images 8

Equal settings: same Scenes (size, samples, no denoiser, CPU threads), no amodal passes. BlenderProc
runs in a child process (see backends/blenderproc.py), timed from inside, after its set-up. Also
reports what our visibility passes (one index-only render per labelled object) add per image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

from synthgen.recipe import load_recipe
from synthgen.render.sampling import sample

CHILD = """
import dataclasses, json, os, sys, time
from synthgen.render.backends import create_backend
from synthgen.recipe import load_recipe
from synthgen.render.sampling import sample
recipe, images, threads, backend_name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
scenes = [dataclasses.replace(sample(load_recipe(recipe), i), passes=()) for i in range(images)]
backend = create_backend(backend_name, threads=threads)
backend.render(scenes[0])  # warm-up: imports, caches
started = time.perf_counter()
for scene in scenes:
    backend.render(scene)
print("RESULT", json.dumps((time.perf_counter() - started) / images), flush=True)
os._exit(0)
"""


def seconds_per_image(backend: str, recipe: str, images: int, threads: int) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, recipe, str(images), str(threads), backend], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if not lines:
        raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])


def visibility_cost(recipe_path: str, images: int, threads: int) -> dict[str, float]:
    from synthgen.render.backends.blender import BlenderBackend

    recipe = load_recipe(recipe_path)
    scenes = [sample(recipe, i) for i in range(images)]
    backend = BlenderBackend(threads=threads)
    backend.render(scenes[0])
    timings = {}
    for label, passes in (("without", ()), ("with", ("amodal",))):
        started = time.perf_counter()
        for scene in scenes:
            backend.render(dataclasses.replace(scene, passes=passes))
        timings[label] = (time.perf_counter() - started) / images
    timings["objects_per_image"] = sum(len(s.objects) for s in scenes) / images
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    ours = seconds_per_image("blender", args.recipe, args.images, args.threads)
    theirs = seconds_per_image("blenderproc", args.recipe, args.images, args.threads)
    report = {"blender_s_per_image": round(ours, 3), "blenderproc_s_per_image": round(theirs, 3), "speed-up": round(theirs / ours, 2)}
    report["visibility"] = {k: round(v, 3) for k, v in visibility_cost(args.recipe, args.images, args.threads).items()}
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    os._exit(0)  # skip Blender's teardown


if __name__ == "__main__":
    main()
