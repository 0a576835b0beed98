"""Blender backend benchmarks, each measured against the raw backend in the same run.

1. Per-image wall time of synthgen's render task (one worker: sample, render, annotate, write
   image, semantic map and record) against a bare bpy loop that builds the same Scenes with plain
   bpy calls and renders them with the same engine, samples, size and passes.
2. Resident memory after image 100 and image 1,000 of a long run (small resolution).
3. Images per second with 2 workers against 1 worker.

    .venv/bin/python benchmarks/render_overhead.py [--images 20] [--long 1000] [--workers-images 16]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def recipe_file(folder: Path, width: int, height: int, samples: int, count: int) -> Path:
    data = yaml.safe_load((REPO / "scenes" / "quickstart.yaml").read_text())
    data["classes"][0]["asset"] = str(REPO / "assets" / "meshes" / "mug.obj")
    data.update(count=count, image={"width": width, "height": height}, render={"engine": "cycles", "samples": samples})
    path = folder / f"bench_{width}x{height}_{samples}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def bare_bpy_seconds(scenes) -> list[float]:
    """Render Scenes with plain bpy in one session: clear, import/add meshes, render with passes to EXR."""
    import bpy
    from mathutils import Vector

    times = []
    out = Path(tempfile.mkdtemp())
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for scene in scenes:
        start = time.perf_counter()
        for collection in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.lights, bpy.data.cameras, bpy.data.worlds):
            for block in list(collection):
                collection.remove(block)
        s = bpy.context.scene
        s.world = bpy.data.worlds.new("w")
        s.world.use_nodes = True
        s.world.node_tree.nodes["Background"].inputs["Color"].default_value = (*scene.world_color, 1)
        s.world.node_tree.nodes["Background"].inputs["Strength"].default_value = scene.world_strength
        bpy.ops.mesh.primitive_plane_add(size=500)
        paint(bpy, bpy.context.active_object, scene.ground_color)
        for obj in scene.objects:
            if obj.mesh.startswith("primitive:"):
                bpy.ops.mesh.primitive_cone_add(vertices=32)
            else:
                bpy.ops.wm.obj_import(filepath=obj.mesh)
            added = bpy.context.selected_objects[0]
            added.scale = (obj.scale,) * 3
            added.location = obj.location
            added.rotation_euler[2] = math.radians(obj.yaw)
            added.pass_index = obj.instance_id
            paint(bpy, added, obj.color)
        for light in scene.lights:
            data = bpy.data.lights.new("l", "POINT")
            data.energy = light.energy
            lamp = bpy.data.objects.new("l", data)
            s.collection.objects.link(lamp)
            lamp.location = light.location
        cam_data = bpy.data.cameras.new("c")
        cam_data.lens = scene.camera.focal_length
        camera = bpy.data.objects.new("c", cam_data)
        s.collection.objects.link(camera)
        camera.location = scene.camera.location
        camera.rotation_euler = (Vector(scene.camera.look_at) - Vector(scene.camera.location)).to_track_quat("-Z", "Y").to_euler()
        s.camera = camera
        s.render.engine = "CYCLES"
        s.cycles.samples = scene.samples
        s.cycles.use_denoising = False
        s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = scene.width, scene.height, 100
        s.view_layers[0].use_pass_object_index = True
        s.view_layers[0].use_pass_z = True
        s.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
        s.render.filepath = str(out / "frame.exr")
        bpy.ops.render.render(write_still=True)
        times.append(time.perf_counter() - start)
    return times


def paint(bpy, blender_object, color) -> None:
    material = bpy.data.materials.new("m")
    material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*color, 1)
    blender_object.data.materials.append(material)


def synthgen_seconds(recipe, out: Path, indices) -> list[float]:
    from synthgen.render.run import RenderTask
    from synthgen.render.run_folder import claim

    claim(out, recipe)
    task = RenderTask(recipe, out, recipe.content_hash())
    times = []
    for index in indices:
        start = time.perf_counter()
        task(index)
        times.append(time.perf_counter() - start)
    task.close()
    return times


def rss_mb() -> float:
    return float(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="images for the per-image comparison")
    parser.add_argument("--long", type=int, default=1000, help="images for the memory run (0 skips it)")
    parser.add_argument("--workers-images", type=int, default=16, help="images for the 1 vs 2 workers run")
    args = parser.parse_args()

    from synthgen.recipe import load_recipe
    from synthgen.render.run import render_dataset
    from synthgen.render.sampling import sample

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = load_recipe(recipe_file(folder, 320, 240, 16, args.images))
        indices = list(range(args.images))
        ours = synthgen_seconds(recipe, folder / "ours", indices)[1:]  # first image pays for imports
        bare = bare_bpy_seconds([sample(recipe, i) for i in indices])[1:]
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        results["per_image_320x240_16spp"] = {
            "synthgen_s": round(mean(ours), 4), "bare_bpy_s": round(mean(bare), 4), "ratio": round(mean(ours) / mean(bare), 3)
        }
        if args.long:
            small = load_recipe(recipe_file(folder, 64, 48, 1, args.long))
            from synthgen.render.run import RenderTask
            from synthgen.render.run_folder import claim

            claim(folder / "long", small)
            task = RenderTask(small, folder / "long", small.content_hash())
            marks = {}
            for index in range(args.long):
                task(index)
                if index + 1 in (100, args.long):
                    marks[index + 1] = rss_mb()
            task.close()
            results["rss_mb"] = {str(k): round(v, 1) for k, v in marks.items()}
            results["rss_growth_100_to_last"] = round(marks[args.long] / marks[100] - 1, 4)
            results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if args.workers_images:
            rates = {}
            for workers in (1, 2):
                r = load_recipe(recipe_file(folder, 320, 240, 16, args.workers_images))
                result = render_dataset(r, folder / f"workers{workers}", workers=workers)
                assert result.complete, result.failures
                rates[workers] = result.rendered / result.seconds
            results["images_per_second"] = {"1_worker": round(rates[1], 3), "2_workers": round(rates[2], 3), "speedup": round(rates[2] / rates[1], 3)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
