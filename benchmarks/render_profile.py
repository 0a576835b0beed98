"""Where a render's wall time goes, stage by stage, and what `render.use_persistent_data` changes.

    python benchmarks/render_profile.py scenes/tabletop.yaml --size 320x240 --images 6

Times each stage of synthgen's render task (one worker, one Blender session) per image, median
over the images after the first: scene clear and build (meshes, materials, physics), the colour
render (split into Cycles' scene sync + BVH, measured as a 1-sample undenoised render of the same
scene, and the rest: sampling and denoising), saving the EXR/PNG files and reading them back, the
visibility (lone-object) renders, truncation, and the task's annotation and file writes. Then runs
the same images with Blender's persistent data on and says whether the bytes stayed the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

STAGES = {  # (module attribute owner, name) -> stage label
    ("backend", "_clear"): "clear",
    ("backend", "_build"): "build (meshes, materials, physics, camera)",
    ("backend", "_render_to"): "colour render (sync, BVH, sampling, denoise) + its PNG save",
    ("blender", "data_render"): "data render (1 sample, no world)",
    ("blender", "lone_masks"): "visibility: lone renders",
    ("blender", "truncated_ids"): "truncation",
    ("blender", "save_result"): "save EXR/PNG",
    ("blender", "read_passes"): "read EXR",
    ("blender", "read_png"): "read PNG",
    ("blender", "read_shadow"): "read shadow pass",
    ("task", "_write"): "annotate + write image, maps, record",
}


def timed(times: dict[str, list[float]], label: str, function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            times[label].append(time.perf_counter() - started)

    return wrapper


def profile(recipe, out: Path, images: int, persistent: bool) -> tuple[dict[str, float], dict[int, bytes]]:
    """Per-stage medians (seconds per image) and each image's PNG bytes."""
    import synthgen.render.backends.blender as blender
    from synthgen.render.run import RenderTask
    from synthgen.render.run_folder import claim

    claim(out, recipe)
    task = RenderTask(recipe, out, recipe.content_hash())
    backend = task.backend
    times: dict[str, list[float]] = defaultdict(list)
    owners = {"backend": backend, "blender": blender, "task": task}
    originals = {key: getattr(owners[key[0]], key[1]) for key in STAGES}
    configure = backend._configure

    def configure_persistent(scene):
        configure(scene)
        backend.bpy.context.scene.render.use_persistent_data = persistent

    render_op = backend.bpy.ops.render.render
    try:
        for (owner, name), label in STAGES.items():
            setattr(owners[owner], name, timed(times, label, originals[(owner, name)]))
        backend._configure = configure_persistent
        pixels, totals = {}, []
        for index in range(images):
            started = time.perf_counter()
            task(index)
            totals.append(time.perf_counter() - started)
            pixels[index] = (out / "images" / f"{index:06d}.png").read_bytes()
        times["total per image"] = totals
        for label, settings in (
            ("colour render at 1 sample, no denoiser (sync, BVH: the fixed cost)", {"samples": 1, "denoise": False, "noise_threshold": 0.0}),
            ("colour render without the denoiser", {"denoise": False}),
        ):
            times[label] = [_colour_render(backend, render_op, task, index, settings) for index in range(images)]
    finally:
        for (owner, name) in STAGES:
            setattr(owners[owner], name, originals[(owner, name)])
        task.close()
    medians = {label: round(statistics.median(values[1:] or values), 3) for label, values in times.items()}
    return medians, pixels


def _colour_render(backend, render_op, task, index: int, settings: dict) -> float:
    """Seconds of image `index`'s colour render alone, with these Scene render settings changed."""
    from synthgen.render.backends.blender import blender_output_silenced
    from synthgen.render.sampling import sample

    scene = dataclasses.replace(sample(task.recipe, index), **settings)
    with blender_output_silenced():
        backend._clear()
        backend._build(scene)
        backend._configure(scene)
        started = time.perf_counter()
        render_op(write_still=False)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args()
    from synthgen.recipe import parse_recipe

    width, height = (int(v) for v in args.size.lower().split("x"))
    data = yaml.safe_load(args.recipe.read_text())
    data["image"] = {"width": width, "height": height}
    data["count"] = args.images
    recipe = parse_recipe(data, args.recipe.resolve())
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for persistent in (False, True):
            stages, pixels = profile(recipe, Path(tmp) / f"persistent-{persistent}", args.images, persistent)
            report[f"use_persistent_data={persistent}"] = stages
            report.setdefault("pixels", []).append(pixels)
    same = report.pop("pixels")
    report["persistent_data_same_bytes"] = same[0] == same[1]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
