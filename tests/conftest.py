"""Shared fixtures: tiny recipes and one small real Blender render reused across tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
COCO_PERSON = SHARED_DATA / "real" / "coco_person"
MUG = REPO / "assets" / "meshes" / "mug.obj"


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


@pytest.fixture
def tiny_recipe_file(tmp_path: Path) -> Path:
    return write_recipe(tmp_path)


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory) -> Path:
    """The tiny recipe rendered once (real Blender) for the label tests."""
    from synthgen.recipe import load_recipe
    from synthgen.run import render_dataset

    folder = tmp_path_factory.mktemp("rendered")
    recipe = load_recipe(write_recipe(folder))
    result = render_dataset(recipe, folder / "out")
    assert result.complete, result.failures
    return folder / "out"


@pytest.fixture(scope="session")
def coco_person() -> Path:
    """Four real COCO photos, their labels and a real detector's results (read-only)."""
    folder = Path(os.environ.get("SYNTHGEN_COCO_PERSON", COCO_PERSON))
    if not (folder / "test_coco.json").is_file():
        pytest.fail(f"real test photos not found at {folder}; set SYNTHGEN_COCO_PERSON")
    return folder
