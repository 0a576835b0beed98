"""Every example scene renders (a few tiny images) into a dataset the strict checker accepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from paths import SCENES
from PIL import Image

from synthgen.formats.check import check_dataset
from synthgen.labels import decode_mask
from synthgen.recipe import ImageSpec, Recipe, RenderSpec, load_recipe
from synthgen.render.maps import read_depth
from synthgen.render.run import render_dataset

pytestmark = pytest.mark.slow

NEW_SCENES = ("quickstart", "tabletop", "real_backgrounds", "rare_class")


def tiny(recipe: Recipe, count: int = 2, **updates) -> Recipe:
    small = recipe.model_copy(
        update={"count": count, "image": ImageSpec(width=64, height=48), "render": RenderSpec(samples=2), **updates}
    )
    small._source = recipe.source
    return small


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes")
    made = {}
    for name in NEW_SCENES:
        recipe = tiny(load_recipe(SCENES / f"{name}.yaml"), count=3 if name == "rare_class" else 2)
        result = render_dataset(recipe, out / name)
        assert result.complete, result.failures
        made[name] = (recipe, out / name)
    return made


@pytest.mark.parametrize("name", NEW_SCENES)
def test_example_scene_makes_a_valid_dataset_without_distractor_labels(datasets, name):
    recipe, folder = datasets[name]
    report = check_dataset(folder)
    assert report.ok, report.problems
    coco = json.loads((folder / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == recipe.class_names
    assert coco["annotations"], "tiny renders should still hold labelled objects"
    for ann in coco["annotations"]:
        assert recipe.labels.min_visibility <= ann["visibility"] <= 1.0
        assert isinstance(ann["truncated"], bool)


def test_tabletop_writes_amodal_masks_depth_and_normals_aligned_with_the_image(datasets):
    _, folder = datasets["tabletop"]
    coco = json.loads((folder / "annotations.json").read_text())
    names = {image["id"]: Path(image["file_name"]).stem for image in coco["images"]}
    for ann in coco["annotations"]:
        visible, amodal = decode_mask(ann["segmentation"]), decode_mask(ann["amodal_segmentation"])
        assert not (visible & ~amodal).any()
        assert (amodal.sum() > visible.sum()) == (ann["visibility"] < 1.0)
        depth = read_depth(folder / "depth" / f"{names[ann['image_id']]}.png")
        assert depth.shape == visible.shape and np.isfinite(depth[visible]).all()
        assert 0.2 < float(np.median(depth[visible])) < 3.0, "objects are about a metre from the camera"
        normals = np.asarray(Image.open(folder / "normals" / f"{names[ann['image_id']]}.png"))
        assert normals.shape == (*visible.shape, 3) and normals[visible].any(axis=-1).all()


def test_photo_background_dataset_has_the_labels_of_the_plain_render(datasets, tmp_path):
    recipe, folder = datasets["real_backgrounds"]
    plain = tiny(recipe, scene=recipe.scene.model_copy(update={"background": None}))
    render_dataset(plain, tmp_path / "plain")
    photographed = json.loads((folder / "annotations.json").read_text())["annotations"]
    without = json.loads((tmp_path / "plain" / "annotations.json").read_text())["annotations"]
    assert json.dumps(photographed) == json.dumps(without)
    assert not np.array_equal(np.asarray(Image.open(folder / "images/000000.png")), np.asarray(Image.open(tmp_path / "plain/images/000000.png")))
