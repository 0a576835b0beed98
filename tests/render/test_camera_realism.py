"""Camera realism: depth of field, motion blur and exposure drawn in sampling; labels stay sharp and exact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import psnr
from recipes import tiny_recipe_data, write_recipe

from synthgen.errors import RecipeError
from synthgen.recipe import load_recipe
from synthgen.render.sampling import sample
from synthgen.render.scene import Scene

REALISM = {
    "depth_of_field": {"fstop": [1.4, 2.8]},
    "motion_blur": {"shutter": [0.3, 0.6], "object_speed": [0.5, 1.0], "camera_speed": [0.1, 0.2]},
    "exposure": [-1, 1],
}


def camera_recipe(tmp_path, name: str = "tiny.yaml", **camera):
    data = tiny_recipe_data()
    return load_recipe(write_recipe(tmp_path, name, scene={"camera": {**data["scene"]["camera"], **camera}}))


def test_realism_is_drawn_last_within_its_ranges_and_leaves_the_layout_alone(tmp_path):
    plain, real = camera_recipe(tmp_path, "plain.yaml"), camera_recipe(tmp_path, **REALISM)
    for index in range(4):
        before, after = sample(plain, index), sample(real, index)
        camera = after.camera
        assert replace(camera, fstop=0.0, focus_instance=0, shutter=0.0, velocity=(0.0, 0.0, 0.0), exposure=0.0) == before.camera
        assert [replace(o, velocity=(0.0, 0.0, 0.0)) for o in after.objects] == list(before.objects)
        assert replace(after, camera=before.camera, objects=before.objects, distractors=before.distractors) == before
        assert 1.4 <= camera.fstop <= 2.8 and camera.focus_instance in {o.instance_id for o in after.objects}
        assert 0.3 <= camera.shutter <= 0.6 and 0.1 <= np.linalg.norm(camera.velocity) <= 0.2 and -1 <= camera.exposure <= 1
        for obj in after.objects:
            assert obj.velocity[2] == 0.0 and 0.5 <= np.hypot(*obj.velocity[:2]) <= 1.0
        assert Scene.from_dict(after.to_dict()) == after
        assert sample(real, index) == after
    assert before.camera.sharp and not after.camera.sharp


def test_bad_realism_fields_fail_with_the_field_path(tmp_path):
    for camera, expected in (
        ({"depth_of_field": {"fstop": 0}}, "scene.camera.depth_of_field.fstop: fstop must be > 0, got 0"),
        ({"motion_blur": {"shutter": [0.5, 3]}}, "scene.camera.motion_blur.shutter: shutter must stay within (0, 2] frames, got [0.5, 3]"),
        ({"motion_blur": {"speed": 1}}, "scene.camera.motion_blur.speed: unknown key"),
    ):
        with pytest.raises(RecipeError) as caught:
            camera_recipe(tmp_path, **camera)
        assert str(caught.value) == f"{tmp_path / 'tiny.yaml'}: {expected}"


def sharpness(rgb: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image: lower is blurrier."""
    grey = rgb[..., :3].astype(np.float64).mean(axis=-1)
    return float(np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]).mean())


def test_blur_changes_the_colour_render_never_the_labels(backend, tmp_path):
    scene = replace(sample(load_recipe(write_recipe(tmp_path)), 0), samples=8, passes=("amodal",))
    sharp = backend.render(scene)
    focus = replace(scene.camera, fstop=0.02, focus_instance=scene.objects[0].instance_id)  # strong at 64x48
    moving = replace(scene, camera=replace(scene.camera, shutter=1.0, velocity=(0.0, 0.0, 1.5)))
    moving = replace(moving, objects=tuple(replace(o, velocity=(3.0, 0.0, 0.0)) for o in scene.objects))
    for blurred in (backend.render(replace(scene, camera=focus)), backend.render(moving)):
        assert sharpness(blurred.rgb) < 0.8 * sharpness(sharp.rgb)
        assert np.array_equal(blurred.instance_map, sharp.instance_map)
        assert np.array_equal(blurred.depth, sharp.depth)
        assert blurred.amodal.keys() == sharp.amodal.keys()
        assert all(np.array_equal(blurred.amodal[i], sharp.amodal[i]) for i in sharp.amodal)
    again = backend.render(scene)  # nothing of the blur stays for the next Scene
    assert np.array_equal(again.rgb, sharp.rgb)


def test_exposure_brightens_by_stops(backend, tmp_path):
    scene = replace(sample(load_recipe(write_recipe(tmp_path)), 1), samples=4, passes=())
    dark, plain, bright = (backend.render(replace(scene, camera=replace(scene.camera, exposure=e))).rgb for e in (-1.0, 0.0, 1.0))
    assert dark.mean() < plain.mean() < bright.mean()


def test_shading_a_photo_by_one_leaves_it_byte_for_byte():
    from paths import BACKGROUNDS

    from synthgen.render.backends.composite import cover, shade

    photo = cover(str(BACKGROUNDS[0]), 64, 48, (0.5, 0.5))
    assert np.array_equal(shade(photo, np.ones((48, 64, 3), np.float32)), photo)
    darker = shade(photo, np.full((48, 64, 3), 0.25, np.float32))
    assert (darker <= photo).all() and (darker[photo > 40] < photo[photo > 40]).all()


def test_soft_shadows_over_a_photo_are_clean_at_few_samples(backend):
    from paths import BACKGROUNDS
    from scene_builders import cube
    from scene_builders import scene as build

    from synthgen.render.backends.composite import cover
    from synthgen.render.scene import Light

    soft = Light(kind="area", location=(2.0, -3.0, 5.0), energy=1500.0, color=(1.0, 1.0, 1.0), size=3.0)
    photographed = build([cube(1), cube(2, x=1.5, y=1.0)], background=str(BACKGROUNDS[0]), lights=(soft,), passes=())
    reference = backend.render(replace(photographed, samples=64))  # the test's one render over 8 samples
    few = backend.render(replace(photographed, samples=8, noise_threshold=0.05, denoise=True))
    photo = cover(str(BACKGROUNDS[0]), 64, 48, (0.5, 0.5))
    ground = reference.instance_map == 0
    shadowed = ground & (reference.rgb.astype(int).sum(axis=-1) < 0.8 * photo.astype(int).sum(axis=-1))
    assert shadowed.sum() > 20  # the cubes' shadows darken the photo
    # 44.7 dB here; shadows from the Combined pass's alpha (before the Shadow Catcher pass): 40.0 dB
    assert psnr(few.rgb[ground], reference.rgb[ground]) > 42
