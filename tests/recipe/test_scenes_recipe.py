"""Recipe fields for scenes, labels and materials: defaults, sampling, and one-line errors with field paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import SCENES

from synthgen.recipe import RecipeError, load_recipe, parse_recipe
from synthgen.render.sampling import sample

BASE = {"version": 1, "name": "t", "count": 1, "classes": [{"name": "box", "primitive": "cube"}]}


def _recipe(**fields):
    return parse_recipe({**BASE, **fields}, SCENES / "t.yaml")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"labels": {"min_visibility": 1.5}}, "labels.min_visibility: Input should be less than or equal to 1"),
        ({"labels": {"visibility": False, "amodal": True}}, "labels: amodal masks and min_visibility need 'visibility: true'"),
        ({"scene": {"lights": {"kinds": ["spot"]}}}, "scene.lights.kinds[0]: Input should be 'point', 'area' or 'sun'"),
        ({"scene": {"world": {"hdri": "nowhere"}}}, "scene.world.hdri: no such file or folder: "),
        ({"scene": {"background": {"photos": "../assets/meshes"}}}, "scene.background.photos: no image files"),
        ({"scene": {"placement": "stack"}}, "scene.placement: Input should be 'simple' or 'physics'"),
        ({"scene": {"camera": {"jitter": -1}}}, "scene.camera.jitter: must be >= 0, got -1"),
        ({"scene": {"distractors": {"primitives": ["teapot"]}}}, "scene.distractors.primitives[0]: Input should be"),
        ({"classes": [{"name": "box", "primitive": "cube", "material": {"hue": [0, 2]}}]}, "classes[0].material.hue: must stay within [0, 1]"),
        ({"classes": [{"name": "box", "primitive": "cube", "material": {"textures": "../assets/meshes/mug.obj"}}]},
         "classes[0].material.textures: unsupported image type '.obj'"),
        ({"output": {"depth": "exr"}}, "output.depth: Input should be 'png16' or 'npy'"),
    ],
)
def test_bad_scene_fields_fail_with_one_line_and_the_field_path(fields, expected):
    with pytest.raises(RecipeError) as error:
        _recipe(**fields)
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(f"{SCENES / 't.yaml'}: {expected}")


def test_scene_fields_reach_the_sampled_scene():
    recipe = _recipe(
        scene={
            "distractors": {"count": 3, "primitives": ["torus"]},
            "world": {"hdri": "builtin", "rotation": 45},
            "background": {"photos": "../assets/backgrounds"},
            "lights": {"count": 4, "kinds": ["sun"], "sun_strength": 2.5},
            "camera": {"focal_length": [20, 30], "jitter": 0.5},
        },
        classes=[{"name": "box", "primitive": "cube", "count": 2, "material": {"metallic": 1, "textures": "../assets/textures"}}],
        labels={"amodal": True},
        output={"normals": True},
    )
    scene = sample(recipe, 3)
    assert [d.mesh for d in scene.distractors] == ["primitive:torus"] * 3 and {d.instance_id for d in scene.distractors} == {0}
    assert [o.instance_id for o in scene.objects] == [1, 2]
    assert all(o.metallic == 1.0 and Path(o.texture).parent.name == "textures" for o in scene.objects)
    assert Path(scene.hdri).suffix == ".exr" and scene.hdri_rotation == 45.0
    assert Path(scene.background).parent.name == "backgrounds"
    assert [(light.kind, light.energy) for light in scene.lights] == [("sun", 2.5)] * 4
    assert 20 <= scene.camera.focal_length <= 30
    assert scene.passes == ("amodal", "normals")
    assert sample(recipe, 3) == scene != sample(recipe, 4)


def test_rare_class_recipe_draws_the_rare_class_about_a_quarter_as_often():
    recipe = load_recipe(SCENES / "rare_class.yaml")
    counts = {"cube": 0, "monkey": 0}
    for index in range(400):
        for obj in sample(recipe, index).objects:
            counts[obj.category] += 1
    assert 0.18 < counts["monkey"] / 400 < 0.32
    assert counts["cube"] > 8 * counts["monkey"]


def test_physics_scenes_start_objects_in_separate_slabs():
    recipe = _recipe(
        classes=[{"name": "box", "primitive": "cube", "count": 5}], scene={"placement": "physics", "distractors": {"count": 2}}
    )
    scene = sample(recipe, 0)
    bodies = sorted(scene.objects + scene.distractors, key=lambda o: o.location[2])
    reach = 1.5**0.5  # bounding-sphere radius about the base centre, per metre of size
    for low, high in zip(bodies, bodies[1:]):
        assert high.location[2] - reach * high.scale >= low.location[2] + reach * low.scale
    assert scene.physics_frames == 60 and any(o.tilt != (0.0, 0.0) for o in bodies)
