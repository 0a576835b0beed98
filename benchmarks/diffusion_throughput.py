"""Diffusion throughput: synthgen's layout mode against a bare diffusers loop, same model and settings.

    python benchmarks/diffusion_throughput.py --size tiny               # runs on a CPU in a minute
    python benchmarks/diffusion_throughput.py --size sd15 --device cuda --width 512 --height 512 --steps 20
    python benchmarks/diffusion_throughput.py --model PATH_OR_ID --controlnet PATH_OR_ID --device cuda

Random weights are built from the architecture's config when no `--model` is given (throughput does
not depend on weight values). Both sides load their model first and warm up on one batch; then
each makes `--batches` batches of `--batch-size` images, and images/s comes from the median batch. synthgen's side is the whole per-image
work (Blender layout render, conditioning, diffusion, trust gate, labels, files); the bare loop
only calls the pipeline on precomputed control images. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny random models the tests build


def recipe_for(args: argparse.Namespace, model: str, controlnet: str, workdir: Path):
    from synthgen.recipe import parse_recipe

    data = {
        "version": 1, "name": "throughput", "seed": 0, "count": args.batch_size * (args.batches + 1), "backend": "diffusion",
        "image": {"width": args.width, "height": args.height}, "render": {"engine": "workbench", "samples": 1},
        "classes": [{"name": "cube", "primitive": "cube", "count": [1, 2]}, {"name": "ball", "primitive": "sphere"}],
        "diffusion": {
            "mode": "layout", "model": model, "controlnet": [{"model": controlnet, "conditioning": "segmentation"}],
            "steps": args.steps, "batch_size": args.batch_size, "device": args.device, "trust": {"scorer": "contrast"},
        },
    }  # fmt: skip
    return parse_recipe(data, workdir / "recipe.yaml")


def per_second(batch_size: int, durations: list[tuple[float, float]]) -> tuple[float, float]:
    """Images per second of wall time and of this process's CPU time, from the median batch
    (CPU time is the steadier measure on a shared machine; wall time is what a GPU run reports)."""
    return tuple(batch_size / statistics.median(d[k] for d in durations) for k in (0, 1))  # type: ignore[return-value]


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_synthgen(recipe, workdir: Path) -> tuple[float, float]:
    """Images per second of synthgen's per-batch work, after a warm-up batch."""
    from synthgen.render.run import RenderTask

    task = RenderTask(recipe, workdir / "out", recipe.content_hash())
    size = recipe.diffusion.batch_size
    batches = [list(range(i, i + size)) for i in range(0, recipe.count, size)]
    task.run_batch(batches[0])
    durations = [timed(lambda: task.run_batch(batch)) for batch in batches[1:]]
    task.close()
    return per_second(size, durations)


def time_bare_loop(recipe) -> tuple[float, float]:
    """Images per second of the same pipeline called directly on the same control images."""
    import torch
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    from PIL import Image

    from synthgen.render.backends.blender import BlenderBackend
    from synthgen.render.backends.diffusion.backend import image_prompt
    from synthgen.render.backends.diffusion.conditioning import conditioning_image
    from synthgen.render.backends.diffusion.loading import device_and_dtype
    from synthgen.render.sampling import sample

    spec = recipe.diffusion
    device, dtype = device_and_dtype(spec)
    net = ControlNetModel.from_pretrained(spec.controlnet[0].model, torch_dtype=dtype)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        spec.model, controlnet=net, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False
    ).to(device)
    pipe.set_progress_bar_config(disable=True)
    blender = BlenderBackend()
    scenes = [sample(recipe, i) for i in range(spec.batch_size)]
    controls = [Image.fromarray(conditioning_image("segmentation", blender.render(s), s, recipe.class_names, {})) for s in scenes]
    blender.close()

    def one_batch() -> None:
        generators = [torch.Generator("cpu").manual_seed(s.extra["seed"]) for s in scenes]
        pipe(prompt=[image_prompt(s) for s in scenes], image=controls, num_inference_steps=spec.steps,
             guidance_scale=spec.guidance_scale, height=recipe.image.height, width=recipe.image.width,
             generator=generators, output_type="np")  # fmt: skip

    one_batch()
    return per_second(spec.batch_size, [timed(one_batch) for _ in range(recipe.count // spec.batch_size - 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "sd15"), default="tiny", help="random-weight architecture to build")
    parser.add_argument("--model", help="a real model (hub id or folder) instead of random weights")
    parser.add_argument("--controlnet", help="its ControlNet (with --model)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()

    from synthgen.render.backends.diffusion.backend import preload_triton

    preload_triton()
    with tempfile.TemporaryDirectory(prefix="synthgen-bench-") as tmp:
        workdir = Path(tmp)
        model, controlnet = args.model, args.controlnet
        if not model:
            from diffusion_models import build_controlnet, build_pipeline

            unet = build_pipeline(workdir / "sd", size=args.size)
            build_controlnet(workdir / "controlnet", unet, size=args.size)
            model, controlnet = str(workdir / "sd"), str(workdir / "controlnet")
        recipe = recipe_for(args, model, controlnet, workdir)
        bare = time_bare_loop(recipe)
        ours = time_synthgen(recipe, workdir)
    result = {
        "size": args.model or args.size, "device": args.device, "image": f"{args.width}x{args.height}", "steps": args.steps,
        "batch_size": args.batch_size, "bare_images_per_s": round(bare[0], 3), "synthgen_images_per_s": round(ours[0], 3),
        "ratio": round(ours[0] / bare[0], 3), "bare_images_per_cpu_s": round(bare[1], 3),
        "synthgen_images_per_cpu_s": round(ours[1], 3), "cpu_ratio": round(ours[1] / bare[1], 3),
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
