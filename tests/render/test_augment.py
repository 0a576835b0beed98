"""Augmentation: validated at load time with field paths; masks, boxes, visibility, depth move with the image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scene_builders import HEIGHT, WIDTH, cube, scene
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.recipe import RecipeError, parse_recipe
from synthgen.render.annotate import annotate
from synthgen.render.augment import augment_render, build_pipeline
from synthgen.render.backends.blender import BlenderBackend

BASE = {"version": 1, "name": "aug", "count": 1, "classes": [{"name": "cube", "primitive": "cube"}]}
SPATIAL = [
    {"name": "HorizontalFlip", "p": 1.0},
    {"name": "Affine", "scale": 1.2, "translate_px": {"x": 3, "y": -2}, "p": 1.0},
    {"name": "RandomCrop", "height": 40, "width": 56},
    {"name": "ColorJitter", "p": 1.0},
]


@pytest.mark.parametrize(
    ("augment", "expected"),
    [
        ([{"name": "NoSuchBlur"}], "augment[0].name: 'NoSuchBlur' is not an albumentations transform"),
        ([{"name": "HorizontalFlip"}, {"name": "GaussianBlur", "blur_limit": "x"}], "augment[1].blur_limit: "),
        ([{"name": "HorizontalFlip", "probability": 0.5}], "augment[0].probability: not a parameter of HorizontalFlip"),
        ([{"p": 0.5}], "augment[0].name: expected a mapping with the transform's 'name'"),
        ([{"name": "Compose"}], "augment[0].name: 'Compose' is not an albumentations transform"),
    ],
)
def test_bad_transforms_fail_at_load_with_the_field_path(augment, expected):
    with pytest.raises(RecipeError) as error:
        parse_recipe({**BASE, "augment": augment}, Path("aug.yaml"))
    (line,) = error.value.problems
    assert line.startswith(f"aug.yaml: {expected}")


def test_validate_command_reports_a_bad_transform(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("version: 1\nname: bad\ncount: 1\nclasses: [{name: c, primitive: cube}]\naugment: [{name: Blurr}]\n")
    result = CliRunner().invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 1
    assert f"{recipe}: augment[0].name: 'Blurr' is not an albumentations transform" in result.output


@pytest.fixture(scope="module")
def rendered():
    backend = BlenderBackend(threads=2)
    layout = scene([cube(1, x=-1.2), cube(2, x=0.4, y=0.6), cube(3, x=1.6, y=-0.3)], [cube(0, x=0.0, y=-2.0, scale=0.8)])
    layout = dataclasses.replace(layout, passes=("amodal", "normals"))
    yield layout, backend.render(layout)
    backend.close()


@pytest.mark.slow
def test_augmented_boxes_match_albumentations_own_box_transform(rendered):
    import albumentations as A

    layout, render = rendered
    before = annotate(render.instance_map, layout, 1, amodal=render.amodal, truncated=render.truncated)
    ids = [o.instance_id for o in layout.objects if (render.instance_map == o.instance_id).any()]
    for seed in range(4):
        augmented = augment_render(render, SPATIAL, seed)
        after = annotate(augmented.instance_map, layout, 1, amodal=augmented.amodal, truncated=augmented.truncated)
        pipeline = build_pipeline(SPATIAL, seed, bbox_params=A.BboxParams(format="coco", label_fields=["ids"], min_area=1))
        boxes = pipeline(image=render.rgb, bboxes=[i.box for i in before], ids=ids)
        expected = {i: box for i, box in zip(boxes["ids"], boxes["bboxes"], strict=True)}
        got = {o.instance_id: inst.box for o in layout.objects for inst in after if inst.mask == _mask_of(augmented, o.instance_id)}
        assert len(got) == len(after) >= 2 and set(got) <= set(expected)
        for instance_id, box in got.items():
            assert np.allclose(box, expected[instance_id], atol=1.0), (seed, instance_id, box, expected[instance_id])
        assert augmented.rgb.shape == (40, 56, 3) and all(i.decode_mask().shape == (40, 56) for i in after)
        for instance_id, amodal in augmented.amodal.items():
            assert not ((augmented.instance_map == instance_id) & ~amodal).any(), "amodal must hold the visible mask"


def _mask_of(render, instance_id):
    from synthgen.labels import encode_mask

    return encode_mask(render.instance_map == instance_id)


@pytest.mark.slow
def test_augmentation_is_seeded_and_moves_every_map_with_the_image(rendered):
    _, render = rendered
    flips = [{"name": "HorizontalFlip", "p": 0.5}, {"name": "GaussNoise", "p": 1.0}]
    a, b = augment_render(render, flips, 7), augment_render(render, flips, 7)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.instance_map, b.instance_map)
    outcomes = {np.array_equal(augment_render(render, flips, s).instance_map, render.instance_map) for s in range(8)}
    assert outcomes == {True, False}, "p=0.5 flips some seeds and not others"
    flipped = augment_render(render, [{"name": "HorizontalFlip", "p": 1.0}], 0)
    assert np.array_equal(flipped.instance_map, render.instance_map[:, ::-1])
    assert np.array_equal(flipped.depth, render.depth[:, ::-1])
    assert np.array_equal(flipped.normals, render.normals[:, ::-1])
    assert all(np.array_equal(flipped.amodal[i], m[:, ::-1]) for i, m in render.amodal.items())


@pytest.mark.slow
def test_an_instance_cropped_away_disappears_and_a_cut_one_is_truncated(rendered):
    layout, render = rendered
    columns = {i: np.nonzero((render.instance_map == i).any(axis=0))[0] for i in (1, 2, 3)}
    x_max = int(columns[2].mean())  # cut through object 2's middle
    assert columns[1].max() < columns[2].min() < x_max < columns[2].max() < columns[3].min()
    cropped = augment_render(render, [{"name": "Crop", "x_min": 0, "y_min": 0, "x_max": x_max, "y_max": HEIGHT}], 0)
    instances = annotate(cropped.instance_map, layout, 1, amodal=cropped.amodal, truncated=cropped.truncated)
    by_category_id = {o.instance_id: inst for o in layout.objects for inst in instances if inst.mask == _mask_of(cropped, o.instance_id)}
    assert set(by_category_id) == {1, 2}
    assert by_category_id[2].truncated is True and by_category_id[1].truncated is False
    assert cropped.rgb.shape == (HEIGHT, x_max, 3) and WIDTH > x_max
