"""Know the cost before the run: render a few images of a recipe in a scratch folder and project the whole run.

The sample images are the recipe's own first images, rendered by the real render task with the
recipe's settings and the thread share one of `workers` local workers gets, then assembled into a
dataset (so labels, exports and semantic maps count towards the disk). The scratch folder is
removed afterwards, whatever happens.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from synthgen.layout import MANIFEST, STATE
from synthgen.recipe import Recipe
from synthgen.render.backends import preflight
from synthgen.render.run import RenderTask
from synthgen.render.run_folder import claim, finalize


@dataclass(frozen=True)
class Estimate:
    """What `count` images of a recipe cost, projected from `sampled` rendered ones."""

    count: int
    workers: int
    threads: int
    sampled: int
    seconds_per_image: float  # median over the sample images
    startup_seconds: float  # starting Blender (paid once by each worker)
    bytes_per_image: int  # the dataset's files (images, maps, labels, exports) / images
    device: str

    @property
    def images_per_worker(self) -> int:
        return math.ceil(self.count / self.workers)

    @property
    def seconds_per_worker(self) -> float:
        """Wall time of the busiest worker, which is the run's wall time."""
        return self.startup_seconds + self.images_per_worker * self.seconds_per_image

    @property
    def disk_bytes(self) -> int:
        return self.count * self.bytes_per_image

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "count": self.count, "workers": self.workers, "threads_per_worker": self.threads, "sampled": self.sampled,
            "device": self.device, "seconds_per_image": round(self.seconds_per_image, 3),
            "startup_seconds": round(self.startup_seconds, 3), "bytes_per_image": self.bytes_per_image,
            "images_per_worker": self.images_per_worker, "wall_seconds": round(self.seconds_per_worker, 1),
            "disk_bytes": self.disk_bytes,
        }


def dataset_files(root: Path) -> list[Path]:
    """The files a finished dataset keeps per image: all but manifest.json and the run state (a few hundred bytes each)."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and STATE not in p.relative_to(root).parts]


def estimate(recipe: Recipe, count: int | None = None, workers: int = 1, images: int = 3, scratch: Path | None = None) -> Estimate:
    """Render `images` sample images of `recipe` (in a folder under `scratch`, removed after) and project `count`."""
    preflight(recipe)
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    sampled = recipe.with_overrides(count=images)
    with tempfile.TemporaryDirectory(prefix="synthgen-estimate-", dir=scratch) as folder:
        root = Path(folder) / "run"
        output = claim(root, sampled)
        task = RenderTask(sampled, root, sampled.content_hash(), threads=threads)
        try:
            started = time.perf_counter()
            task.backend  # noqa: B018  (starts Blender: timed on its own)
            startup = time.perf_counter() - started
            seconds, device = [], "cpu"
            for index in range(images):
                started = time.perf_counter()
                record = task(index)
                seconds.append(time.perf_counter() - started)
                device = record["sample"]["provenance"].get("extra", {}).get("device", recipe.backend)
        finally:
            task.close()
        finalize(output, sampled, {})
        size = sum(p.stat().st_size for p in dataset_files(root))
    return Estimate(
        count=count or recipe.count, workers=workers, threads=threads, sampled=images,
        seconds_per_image=statistics.median(seconds), startup_seconds=startup,
        bytes_per_image=round(size / images), device=device,
    )
