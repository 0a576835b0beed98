"""Mixing at scale: seconds and peak memory of `synthgen mix` against datumaro's merge, same inputs, same run.

Two generated inputs (half real, half synthetic), labels only: tiny unique 8x8 PNGs and `--per-image`
boxes each, written as COCO once in synthgen's layout and once in datumaro's (`annotations/instances_default.json`
+ `images/default/`, symlinks to the same PNGs). Each tool runs in its own process; peak memory is that
process's max RSS. Both place the images in their output (copies or links); datumaro is also run
labels-only (`save_media=False`), which writes no images, as a lower bound. datumaro runs from its own environment (`--datumaro-python`, e.g. a venv with
`pip install datumaro`), since it pins its own numpy.

    python benchmarks/bench_mix.py --images 100000 --per-image 10 --work /tmp/bench --datumaro-python /tmp/dm/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

OURS = """
import resource, sys, time
from pathlib import Path
from synthgen.mix.mix import MixOptions, mix
start = time.perf_counter()
mix(sys.argv[1:3], Path(sys.argv[3]), MixOptions(val_fraction=0.2, link=sys.argv[4], seed=0))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

DATUMARO = """
import resource, sys, time
start = time.perf_counter()
from datumaro.components.dataset import Dataset
from datumaro.components.hl_ops import HLOps
parts = [Dataset.import_from(path, "coco_instances") for path in sys.argv[1:3]]
merged = HLOps.merge(*parts, merge_policy="union")
merged.export(sys.argv[3], "coco_instances", save_media=sys.argv[4] == "media")
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def generate(root: Path, images: int, per_image: int, source: str, offset: int, seed: int) -> Path:
    """A synthgen-layout COCO folder and a datumaro-layout twin (`<root>_dm`) over the same images."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    dm = root.parent / f"{root.name}_dm"
    (dm / "annotations").mkdir(parents=True)
    (dm / "images").mkdir(parents=True)
    os.symlink((root / "images").resolve(), dm / "images" / "default")
    names = ["pallet", "forklift", "person", "drum", "crate"]
    entries, annotations = [], []
    for index in range(images):
        pixels = np.frombuffer((offset + index).to_bytes(8, "little") * 24, dtype=np.uint8).reshape(8, 8, 3)
        Image.fromarray(pixels).save(root / "images" / f"{index:07d}.png", compress_level=1)
        entries.append({"id": index + 1, "file_name": f"{index:07d}.png", "width": 8, "height": 8, "provenance": {"source": source}})
        for _ in range(per_image):
            x, y = rng.integers(0, 4, size=2).tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": int(rng.integers(1, 6)),
                                "bbox": [x, y, 4, 4], "area": 16, "iscrowd": 0})
    data = {"images": entries, "annotations": annotations, "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    (dm / "annotations/instances_default.json").write_text(json.dumps(data))
    for entry in entries:
        entry["file_name"] = f"images/{entry['file_name']}"
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def timed(python: str, script: str, args: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    seconds, megabytes = result.stdout.split()[-2:]
    return float(seconds), float(megabytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="images in all (half real, half synthetic)")
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/synthgen-bench-mix"))
    parser.add_argument("--datumaro-python", default=None, help="a Python with datumaro installed")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    half = args.images // 2
    start = time.perf_counter()
    real = generate(args.work / "real", half, args.per_image, "import", 0, 1)
    synth = generate(args.work / "synth", args.images - half, args.per_image, "render", half, 2)
    print(f"generated {args.images} images, {args.images * args.per_image} boxes in {time.perf_counter() - start:.1f} s")
    runs = [("synthgen mix --link copy", sys.executable, OURS, "copy"), ("synthgen mix --link symlink", sys.executable, OURS, "symlink")]
    if args.datumaro_python:
        runs += [("datumaro merge, images saved", args.datumaro_python, DATUMARO, "media"),
                 ("datumaro merge, labels only", args.datumaro_python, DATUMARO, "labels")]
    for number, (name, python, script, mode) in enumerate(runs):
        seconds, megabytes = timed(python, script, [f"{real}_dm" if "datumaro" in name else str(real),
                                                    f"{synth}_dm" if "datumaro" in name else str(synth),
                                                    str(args.work / f"out{number}"), mode])
        print(f"{name:32s} {seconds:8.1f} s {megabytes:8.0f} MB peak", flush=True)


if __name__ == "__main__":
    main()
