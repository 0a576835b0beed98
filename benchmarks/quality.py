"""Quality-matched render cost: seconds per image and PSNR against a many-sample reference of the same Scenes.

    python benchmarks/quality.py scenes/tabletop.yaml --size 640x480 --objects 10 30 --images 4 --rounds 3

Contenders (each in its own child process, one Blender session each, runs interleaved round by
round, medians over rounds reported):

- `synthgen`: the render task (sample, render, annotate, write) at the recipe's settings (its
  `render.quality`, `standard` by default), and at each `--presets` quality.
- `blenderproc`: BlenderProc 2.8's API (backends/blenderproc.py) at BlenderProc's defaults:
  1024 samples, adaptive stop at noise 0.01, its Intel (OpenImageDenoise) compositor denoiser.
- `bare-bpy`: the same Blender scene, one `bpy.ops.render.render` at synthgen's `standard`
  settings, nothing else (no passes, no labels, no files but the PNG): what synthgen adds.
- `bare-bpy-factory`: the same at Blender's factory Cycles settings (4096 samples, noise 0.01,
  OpenImageDenoise): what a loop that never touches the render settings pays.
- `raw16`: the old synthgen default (16 samples, no adaptive sampling, no denoiser).

PSNR (dB, RGB 8-bit, median over images) is measured against a `--reference-samples` render of
each backend's own Scenes (no denoiser, no adaptive stop), so physics that settles differently in
BlenderProc does not count as noise. `--objects N` adds distractors to reach about N objects.
Visibility (amodal) passes are off for every contender: they cost the same in each and are
measured by benchmarks/backends.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

CHILD = r"""
import dataclasses, json, os, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from synthgen.recipe import load_recipe
from synthgen.render.sampling import sample
recipe_path, contender, images, threads, out, settings = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
recipe = load_recipe(recipe_path)
scenes = [dataclasses.replace(sample(recipe, i), passes=(), **settings) for i in range(images)]
if contender == "synthgen":  # the whole task: sample, render, annotate, write files
    from synthgen.render.run import RenderTask
    from synthgen.render.run_folder import claim
    recipe = recipe.model_copy(update={"render": recipe.render.model_copy(update=settings)})
    claim(Path(out + ".run"), recipe)
    task = RenderTask(recipe, Path(out + ".run"), recipe.content_hash(), threads=threads)
    task.backend  # Blender starts before the clock
    def render(scene):
        task(scene.index)
        return np.asarray(Image.open(out + ".run/images/%06d.png" % scene.index).convert("RGB"))
elif contender == "bare-bpy":  # the same Blender scene, one render call, nothing else
    from synthgen.render.backends.blender import BlenderBackend
    backend = BlenderBackend(threads=threads)
    bpy = backend.bpy
    def render(scene):
        backend._clear(); backend._build(scene); backend._configure(scene)
        bpy.context.scene.view_layers[0].use_pass_object_index = bpy.context.scene.view_layers[0].use_pass_z = False
        bpy.context.scene.render.engine, bpy.context.scene.render.filepath = "CYCLES", out + ".png"
        bpy.ops.render.render(write_still=True)
        return np.asarray(Image.open(out + ".png").convert("RGB"))
else:
    from synthgen.render.backends import create_backend
    backend = create_backend(contender, threads=threads)
    render = lambda scene: backend.render(scene).rgb[..., :3]
results, seconds = [], []
for scene in scenes:
    started = time.perf_counter()
    results.append(render(scene))
    seconds.append(time.perf_counter() - started)
np.save(out + ".npy", np.stack(results))
print("RESULT", json.dumps(seconds), flush=True)
os._exit(0)
"""

BPROC_DEFAULTS = {"samples": 1024, "noise_threshold": 0.01, "denoise": True}
FACTORY_CYCLES = {"samples": 4096, "noise_threshold": 0.01, "denoise": True, "denoise_prefilter": "accurate"}
RAW16 = {"samples": 16, "noise_threshold": 0.0, "denoise": False}


def run_child(recipe: Path, contender: str, settings: dict, images: int, threads: int, out: Path) -> tuple[list[float], np.ndarray]:
    """Render the first `images` Scenes of `recipe` as `contender` with Scene `settings`; (seconds, RGB stack)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(recipe), contender, str(images), str(threads), str(out), json.dumps(settings)],
        capture_output=True, text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if not lines:
        raise SystemExit(f"{contender} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1]), np.load(f"{out}.npy")


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    error = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return float("inf") if error == 0 else 10 * float(np.log10(255.0**2 / error))


def prepared_recipe(source: Path, folder: Path, size: tuple[int, int], objects: int | None) -> Path:
    """The recipe at `size`, with distractors added to reach about `objects` objects, written into `folder`."""
    data = yaml.safe_load(source.read_text())
    for spec in data["classes"] + [data.get("scene", {}).get("distractors", {})]:  # paths relative to the original
        for key in ("asset",):
            if spec.get(key):
                spec[key] = str((source.parent / spec[key]).resolve())
        textures = spec.get("material", {}).get("textures")
        if textures:
            spec["material"]["textures"] = str((source.parent / textures).resolve())
    data["image"] = {"width": size[0], "height": size[1]}
    if objects is not None:
        labelled = sum(max(c.get("count", 1)) if isinstance(c.get("count", 1), list) else c.get("count", 1) for c in data["classes"])
        data.setdefault("scene", {}).setdefault("distractors", {})["count"] = max(0, objects - labelled)
    data.setdefault("labels", {}).update(visibility=False, min_visibility=0.0, amodal=False)
    path = folder / f"recipe_{objects}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def contenders(presets: list[str], only: list[str] | None = None) -> dict[str, tuple[str, dict]]:
    """Contender name -> (child kind, Scene render settings); `only` keeps those named."""
    from synthgen.recipe import QUALITY_PRESETS

    found = {f"synthgen-{q}": ("synthgen", QUALITY_PRESETS[q]) for q in presets}
    found.update({
        "synthgen-raw16": ("synthgen", RAW16),
        "blenderproc-defaults": ("blenderproc", BPROC_DEFAULTS),
        "bare-bpy": ("bare-bpy", QUALITY_PRESETS["standard"]),
        "bare-bpy-factory": ("bare-bpy", FACTORY_CYCLES),
    })
    return {name: found[name] for name in found if not only or name in only}


def measure(recipe: Path, args: argparse.Namespace, folder: Path) -> dict[str, dict[str, float]]:
    reference_settings = {"samples": args.reference_samples, "noise_threshold": 0.0, "denoise": False}
    table = contenders(args.presets, args.only)
    backends = {"blenderproc" if contender == "blenderproc" else "blender" for contender, _ in table.values()}
    references = {
        backend: run_child(recipe, backend, reference_settings, args.images, args.threads, folder / f"ref-{backend}")[1]
        for backend in sorted(backends)
    }
    seconds: dict[str, list[float]] = {name: [] for name in table}
    quality: dict[str, float] = {}
    for round_ in range(args.rounds):  # interleaved: every contender once per round
        for name, (contender, settings) in table.items():
            times, rgb = run_child(recipe, contender, settings, args.images, args.threads, folder / f"{name}-{round_}")
            seconds[name].append(statistics.median(times))
            reference = references["blenderproc" if contender == "blenderproc" else "blender"]
            quality[name] = statistics.median(psnr(a, b) for a, b in zip(rgb, reference, strict=True))
    return {name: {"s_per_image": round(statistics.median(seconds[name]), 3), "psnr_db": round(quality[name], 2)} for name in table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    parser.add_argument("--objects", type=int, nargs="*", default=[10, 30], help="about this many objects per image")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference-samples", type=int, default=1024)
    parser.add_argument("--presets", nargs="*", default=["draft", "standard", "final"])
    parser.add_argument("--only", nargs="*", help="contenders to run (default: all), e.g. synthgen-standard blenderproc-defaults")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the results here, updated after each object count")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for objects in args.objects or [None]:
            recipe = prepared_recipe(args.recipe.resolve(), Path(tmp), (width, height), objects)
            report[f"{objects or 'recipe'}_objects"] = measure(recipe, args, Path(tmp))
            summary = json.dumps({"size": args.size, "images": args.images, "rounds": args.rounds,
                                  "reference_samples": args.reference_samples, "results": report}, indent=2)
            print(summary, flush=True)
            if args.json:
                args.json.write_text(summary + "\n")


if __name__ == "__main__":
    main()
