"""The BlenderProc backend: the adapter still loads BlenderProc 2.8 into a bpy process, and the
same Scene gives the same instance map as the Blender backend. Fails loudly after an upgrade."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import MUG, write_recipe
from synthgen.check import check_dataset
from synthgen.dataset import load_dataset
from synthgen.recipe import load_recipe
from synthgen.run import render_dataset
from synthgen.sampling import sample

# Only look for it: importing BlenderProc here would make this process hang at exit.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("blenderproc") is None, reason="the blenderproc extra is not installed")


@pytest.fixture(scope="module")
def backends():
    from synthgen.backends.blender import BlenderBackend
    from synthgen.backends.blenderproc import BlenderProcBackend

    ours, theirs = BlenderBackend(threads=1), BlenderProcBackend(threads=1)
    yield ours, theirs
    theirs.close()
    ours.close()


def test_same_scene_same_instance_map(backends, tmp_path):
    ours, theirs = backends
    recipe = load_recipe(write_recipe(tmp_path, classes=[
        {"name": "mug", "asset": str(MUG), "count": 2},
        {"name": "torus", "primitive": "torus", "count": 1},
    ]))
    for index in range(2):
        scene = sample(recipe, index)
        mine, blenderproc = ours.render(scene), theirs.render(scene)
        assert blenderproc.rgb.shape == mine.rgb.shape == (48, 64, 3)
        assert set(np.unique(blenderproc.instance_map)) == set(np.unique(mine.instance_map))
        assert (blenderproc.instance_map == mine.instance_map).mean() > 0.99
        hit = np.isfinite(mine.depth) & np.isfinite(blenderproc.depth)
        assert np.abs(mine.depth[hit] - blenderproc.depth[hit]).max() < 0.05


def test_bad_mesh_is_this_image_error_and_the_child_keeps_serving(backends, tmp_path):
    _, theirs = backends
    broken = tmp_path / "broken.obj"
    broken.write_text("not an obj\n")
    recipe = load_recipe(write_recipe(tmp_path, classes=[{"name": "x", "asset": str(broken)}]))
    with pytest.raises(RuntimeError, match="BlenderProc: RuntimeError: .*broken.obj: holds no mesh geometry"):
        theirs.render(sample(recipe, 0))
    good = load_recipe(write_recipe(tmp_path, name="good.yaml"))
    assert theirs.render(sample(good, 0)).instance_map.max() >= 1


def test_recipe_with_blenderproc_backend_makes_a_valid_dataset(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, backend="blenderproc", count=2))
    result = render_dataset(recipe, tmp_path / "out")
    assert result.complete, result.failures
    assert check_dataset(tmp_path / "out").ok
    samples = load_dataset(tmp_path / "out").samples
    assert {s.provenance.backend for s in samples} == {"blenderproc"}
    assert sum(len(s.instances) for s in samples) >= 2


def test_features_blenderproc_lacks_fail_at_load_with_field_paths(tmp_path):
    from synthgen.recipe import RecipeError

    path = write_recipe(
        tmp_path, backend="blenderproc", render={"engine": "workbench"},
        scene={"placement": "physics"}, labels={"amodal": True},
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        f"{field}: not supported by backend blenderproc (use backend: blender)"
        for field in ("render.engine", "scene.placement", "labels.amodal")
    ]


def test_distractors_lights_and_photo_background_through_blenderproc(backends, tmp_path):
    from synthgen.backends.composite import cover

    ours, theirs = backends
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(np.full((30, 40, 3), (10, 200, 30), dtype=np.uint8)).save(photo)
    recipe = load_recipe(write_recipe(
        tmp_path, scene={"ground": False, "background": {"photos": str(photo)}, "distractors": {"count": 2},
                         "lights": {"kinds": ["sun", "area"]}, "camera": {"distance": [4, 5], "elevation": [30, 50]}},
    ))
    scene = sample(recipe, 0)
    mine, blenderproc = ours.render(scene), theirs.render(scene)
    assert (blenderproc.instance_map == mine.instance_map).mean() > 0.99
    backdrop = cover(str(photo), 64, 48, scene.background_offset)
    empty = (mine.instance_map == 0) & ~np.isfinite(mine.depth)
    difference = np.abs(blenderproc.rgb[empty].astype(int) - backdrop[empty]).max(axis=1)
    assert empty.sum() > 100 and (difference <= 1).mean() > 0.9  # the photo shows where nothing was hit (edges blend)
