"""Per-image overhead of the Ray executor against the local pool, and throughput with 1 and 2 workers.

    python benchmarks/ray_overhead.py [RECIPE] [--count N] [--repeat R] [--report FILE.json]

Each configuration renders the same recipe into a fresh folder; the fastest of R runs counts.
Pairs run the same number of images at a time with the same render threads: local 1 worker
(all threads) vs Ray `num_cpus=<all>`, and local 2 workers vs Ray `num_cpus=<half>`. Ray's
start-up (a private instance) is timed on its own and left out of the per-image numbers.

"in-task" is the time inside `RenderTask` (sample, render, annotate, write): the raw backend work
of the same run. "outside" = wall / images - in-task / images-at-a-time: what the executor adds
per image (scheduling, transfers, worker start-up, idle tail, label assembly). Comparing it,
rather than two wall times, keeps most of the noise of a shared machine out of the overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from synthgen.recipe import load_recipe
from synthgen.render.executors.ray import RayOptions
from synthgen.render.run import render_dataset
from synthgen.render.run_folder import RunOutput

REPO = Path(__file__).resolve().parents[1]


def timed_run(recipe, at_a_time: int, **options) -> dict[str, float]:
    """Render `recipe` into a temporary folder; wall time, throughput, in-task and outside time per image."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        started = time.perf_counter()
        result = render_dataset(recipe, out, **options)
        wall = time.perf_counter() - started
        assert result.complete, result.failures
        in_task = sum(RunOutput(out).read_record(i)["seconds"] for i in range(recipe.count)) / recipe.count
    return {
        "wall_s": round(wall, 3),
        "images_per_s": round(recipe.count / wall, 3),
        "in_task_s_per_image": round(in_task, 3),
        "outside_s_per_image": round(wall / recipe.count - in_task / at_a_time, 3),
    }


def fastest(runs: int, recipe, at_a_time: int, **options) -> dict[str, float]:
    return min((timed_run(recipe, at_a_time, **options) for _ in range(runs)), key=lambda run: run["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default=str(REPO / "scenes" / "quickstart.yaml"))
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--report", type=Path, help="also write the report here (Blender's output shares stdout)")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe).with_overrides(count=args.count)

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray_startup = time.perf_counter() - started
    cpus = os.cpu_count() or 2
    try:
        runs = {
            "local, 1 worker": fastest(args.repeat, recipe, 1, workers=1),
            f"ray, num_cpus={cpus} (1 at a time)": fastest(
                args.repeat, recipe, 1, executor="ray", ray_options=RayOptions(num_cpus=cpus)
            ),
            "local, 2 workers": fastest(args.repeat, recipe, 2, workers=2),
            f"ray, num_cpus={cpus / 2:g} (2 at a time)": fastest(
                args.repeat, recipe, 2, executor="ray", ray_options=RayOptions(num_cpus=cpus / 2)
            ),
        }
    finally:
        ray.shutdown()
    names = list(runs)
    overhead = {}
    for local, on_ray in ((names[0], names[1]), (names[2], names[3])):
        added = runs[on_ray]["outside_s_per_image"] - runs[local]["outside_s_per_image"]
        overhead[f"{on_ray} vs {local}"] = {
            "added_s_per_image": round(added, 3),
            "added_percent_of_local_image_time": round(100 * added * recipe.count / runs[local]["wall_s"], 2),
        }
    report = {
        "recipe": args.recipe, "images": recipe.count, "size": f"{recipe.image.width}x{recipe.image.height}",
        "engine": recipe.render.engine, "samples": recipe.render.samples, "cpus": cpus,
        "ray_startup_s": round(ray_startup, 2), "runs": runs, "ray_overhead": overhead,
    }
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
