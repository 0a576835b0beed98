"""The tiny recipe most rendering tests use: 64x48, few samples, a mesh class and a primitive class."""

from __future__ import annotations

from pathlib import Path

import yaml
from paths import MUG


def tiny_recipe_data(**overrides) -> dict:
    """A small recipe: 64x48, few samples, a mesh class and a primitive class."""
    data = {
        "version": 1,
        "name": "tiny",
        "seed": 3,
        "count": 4,
        "backend": "blender",
        "image": {"width": 64, "height": 48},
        "render": {"engine": "cycles", "samples": 4},
        "classes": [
            {"name": "mug", "asset": str(MUG), "count": [1, 2], "scale": [0.8, 1.2]},
            {"name": "cone", "primitive": "cone", "count": 1},
        ],
        "scene": {"camera": {"distance": [4, 5], "elevation": [30, 50]}},
        "labels": {"min_area": 4},
        "output": {"formats": ["coco", "yolo", "yolo-seg"]},
    }
    data.update(overrides)
    return data


def write_recipe(folder: Path, name: str = "tiny.yaml", **overrides) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(tiny_recipe_data(**overrides), sort_keys=False))
    return path
