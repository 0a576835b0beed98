"""Small real datasets for the mixing tests: random-pixel PNGs, rectangle masks, the label model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from paths import COCO_PERSON
from PIL import Image

from synthgen.formats.coco import write_coco
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names

REAL_COCO = COCO_PERSON / "test_coco.json"
WIDTH, HEIGHT = 64, 48


def rect_instance(name: str, slot: int) -> Instance:
    """A rectangle mask in one of 6 slots; `attributes.truth` keeps the class name to check remapping."""
    x, y = 4 + (slot % 3) * 20, 4 + (slot // 3 % 2) * 22
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[y : y + 14, x : x + 12 + slot % 3] = True
    return Instance.from_mask(name, mask, attributes={"truth": name})


def write_dataset(
    root: Path, class_names: list[str], images: list[list[str]], provenance: Provenance, seed: int
) -> Path:
    """A synthgen dataset folder: one random PNG per entry of `images`, one instance per class name listed."""
    rng = np.random.default_rng(seed)
    samples = []
    for index, names in enumerate(images):
        file_name = f"images/{index:06d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(root / file_name)
        instances = [rect_instance(name, slot) for slot, name in enumerate(names)]
        samples.append(Sample(file_name, WIDTH, HEIGHT, instances, provenance))
    write_coco(Dataset(categories_from_names(class_names), samples), root / "annotations.json")
    return root


def render_provenance(recipe: str) -> Provenance:
    return Provenance(source="render", backend="blender", recipe_name=recipe, recipe_hash=f"hash-{recipe}", seed=7)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symlinks as their target text), for exact comparisons."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            files[str(path.relative_to(root))] = str(path.readlink()).encode()
        elif path.is_file():
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


WAREHOUSE = """\
version: 1
name: warehouse
seed: 3
count: 50
image: {width: 64, height: 48}
classes:
  - name: Forklift
    asset: meshes/forklift.obj
    count: [1, 3]
  - name: pallet
    primitive: cube
    count: {choice: [1, 2, 3, 4]}
  - name: person
    primitive: cylinder
    count: 1
"""


def write_warehouse_recipe(root: Path) -> Path:
    """`root/scenes/warehouse.yaml` (WAREHOUSE) with its one-triangle forklift mesh."""
    (root / "scenes/meshes").mkdir(parents=True)
    (root / "scenes/meshes/forklift.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    path = root / "scenes/warehouse.yaml"
    path.write_text(WAREHOUSE)
    return path
