"""Small synthetic datasets for the real-data tests: coloured squares and disks on noise, with exact masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.fileio import atomic_write_png
from synthgen.formats.folder import write_labels
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names
from synthgen.layout import IMAGES

CLASSES = ["square", "disk"]
COLOURS = {"square": (230, 80, 60), "disk": (60, 200, 230)}


def shape_mask(kind: str, size: int, x: int, y: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    if kind == "square":
        return (abs(xx - x) <= r) & (abs(yy - y) <= r)
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def make_shapes_dataset(
    out: Path, count: int, seed: int, size: int = 64, classes: list[str] = CLASSES, source: str = "render",
    colours: dict[str, tuple[int, int, int]] = COLOURS, noise: int = 80,
) -> Dataset:  # fmt: skip
    """Write a synthgen dataset folder of `count` images, 1-2 non-overlapping shapes of `classes` each,
    on a background of noise up to `noise`; `source` is the images' provenance (a rendered or a real domain)."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        image = rng.integers(0, noise, (size, size, 3), dtype=np.uint8)
        instances, taken = [], np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(1, 3))):
            kind = classes[int(rng.integers(0, len(classes)))]
            r = int(rng.integers(9, 15))
            x, y = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
            mask = shape_mask(kind, size, x, y, r)
            if (mask & taken).any():
                continue
            taken |= mask
            image[mask] = colours[kind]
            instances.append(Instance.from_mask(kind, mask))
        name = f"{IMAGES}/{index:06d}.png"
        atomic_write_png(out / name, image)
        samples.append(Sample(name, size, size, instances, Provenance(source=source, seed=seed, index=index)))
    dataset = Dataset(categories=categories_from_names(classes), samples=samples, root=str(out))
    write_labels(dataset, out)
    return dataset


def assert_valid_dataset(folder: Path) -> Dataset:
    """Strict checks a detector-made dataset must pass: unique ids from 1, images present with the
    stated size, boxes inside the image with positive size, masks of image size matching their boxes,
    scores in [0, 1], provenance saying where labels came from."""
    import json

    from PIL import Image
    from pycocotools import mask as mask_utils

    from synthgen.formats.folder import load_dataset

    raw = json.loads((folder / "annotations.json").read_text())
    for key in ("images", "annotations", "categories"):
        ids = [entry["id"] for entry in raw[key]]
        assert len(set(ids)) == len(ids) and min(ids, default=1) >= 1, key
    dataset = load_dataset(folder)
    for sample in dataset.samples:
        with Image.open(folder / sample.file_name) as image:
            assert image.size == (sample.width, sample.height), sample.file_name
        assert sample.provenance.source in ("prelabel", "human", "render")
        for instance in sample.instances:
            x, y, w, h = instance.box
            assert w > 0 and h > 0 and x >= 0 and y >= 0, (sample.file_name, instance.box)
            assert x + w <= sample.width + 1e-6 and y + h <= sample.height + 1e-6, (sample.file_name, instance.box)
            assert instance.score is None or 0.0 <= instance.score <= 1.0
            if instance.mask is not None:
                assert instance.mask["size"] == [sample.height, sample.width]
                rle = {"size": instance.mask["size"], "counts": instance.mask["counts"].encode()}
                assert list(mask_utils.toBbox(rle)) == list(instance.box)
    return dataset


def invoke(*args):
    """Run the real `synthgen` command with these arguments (paths may be Path objects)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of 8-bit pixels against a reference."""
    error = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / error))


def assert_experiment_results(results: dict, arms: list[str], classes: list[str]) -> None:
    """An experiment's `results.json` holds exactly `arms` and `classes`, every AP with its interval
    around the mean, every delta against real with an interval and the verdict that interval gives."""
    from synthgen.real.experiment_stats import verdict

    assert list(results) == ["arms", "deltas", "setup"]
    assert list(results["arms"]) == arms
    for arm in arms:
        assert list(results["arms"][arm]) == ["classes", "all"]
        assert list(results["arms"][arm]["classes"]) == classes
        for summary in [*results["arms"][arm]["classes"].values(), results["arms"][arm]["all"]]:
            assert list(summary) == ["ap", "ap50"]
            for value in summary.values():
                assert list(value) == ["mean", "ci"] and len(value["ci"]) == 2
                assert 0 <= value["ci"][0] <= value["mean"] <= value["ci"][1] <= 1
    assert list(results["deltas"]) == [arm for arm in arms if arm != "real"]
    for per_class in results["deltas"].values():
        assert list(per_class) == classes
        for delta in per_class.values():
            assert list(delta) == ["ap", "verdict"] and len(delta["ap"]["ci"]) == 2
            assert delta["ap"]["ci"][0] <= delta["ap"]["mean"] <= delta["ap"]["ci"][1]
            assert delta["verdict"] in ("helps", "hurts", "no evidence") and delta["verdict"] == verdict(delta["ap"]["ci"])

