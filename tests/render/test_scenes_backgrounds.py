"""Real-photo backgrounds (transparent film + composite) and HDRI worlds: colour changes, labels do not."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from paths import BACKGROUNDS, COCO_PERSON
from scene_builders import HEIGHT, WIDTH, cube, scene

from synthgen.recipe import builtin_hdris
from synthgen.render.annotate import annotate
from synthgen.render.backends.blender import BlenderBackend
from synthgen.render.backends.composite import composite, cover
from synthgen.render.scene import Camera

pytestmark = pytest.mark.slow

PHOTOS = BACKGROUNDS
REAL = sorted(COCO_PERSON.glob("*.jpg"))


@pytest.fixture(scope="module")
def backend():
    blender = BlenderBackend(threads=2)
    yield blender
    blender.close()


def _labels(render, s) -> bytes:
    instances = annotate(render.instance_map, s, 1, amodal=render.amodal, truncated=render.truncated, keep_amodal=True)
    return json.dumps([dataclasses.asdict(i) for i in instances]).encode()


def test_composited_labels_are_byte_identical_to_the_plain_render(backend):
    photographed = scene(
        [cube(1), cube(2, x=1.3, y=0.5)], [cube(0, x=-0.3, y=-1.5, scale=0.6)], background=str(REAL[0]), background_offset=(0.3, 0.7)
    )
    plain = dataclasses.replace(photographed, background=None)
    with_photo, without = backend.render(photographed), backend.render(plain)
    assert _labels(with_photo, photographed) == _labels(without, plain)
    assert np.array_equal(with_photo.instance_map, without.instance_map)
    assert np.array_equal(with_photo.depth, without.depth)
    assert not np.array_equal(with_photo.rgb, without.rgb)


def test_photo_shows_exactly_where_the_film_is_empty(backend):
    floating = scene([cube(1)], ground=False, background=str(PHOTOS[0]), background_offset=(0.2, 0.9))
    render = backend.render(floating)
    photo = cover(str(PHOTOS[0]), WIDTH, HEIGHT, (0.2, 0.9))
    hit = np.isfinite(render.depth)
    near_hit = np.zeros_like(hit)
    for dy in (-2, -1, 0, 1, 2):  # keep away from anti-aliased edges
        for dx in (-2, -1, 0, 1, 2):
            near_hit |= np.roll(hit, (dy, dx), axis=(0, 1))
    empty = ~near_hit
    assert empty.sum() > WIDTH * HEIGHT // 2
    assert np.array_equal(render.rgb[empty], photo[empty])
    assert (np.abs(render.rgb[hit].astype(int) - photo[hit]).sum(axis=-1) > 30).mean() > 0.9


def test_cover_scales_to_cover_and_crops_at_the_offset():
    left, right = cover(str(PHOTOS[0]), 40, 40, (0.0, 0.5)), cover(str(PHOTOS[0]), 40, 40, (1.0, 0.5))
    assert left.shape == right.shape == (40, 40, 3)
    assert not np.array_equal(left, right)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:20] = (255, 0, 0, 255)
    blended = composite(rgba, left)
    assert (blended[:20] == (255, 0, 0)).all() and np.array_equal(blended[20:], left[20:])


def test_hdri_world_from_the_bpy_wheel_lights_and_shows(backend):
    hdris = builtin_hdris()
    assert {p.stem for p in hdris} >= {"city", "forest", "studio", "sunset"}
    plain = scene([cube(1)], camera=Camera(location=(0.0, -6.0, 1.0), look_at=(0.0, 0.0, 1.5), focal_length=35.0))
    lit = dataclasses.replace(plain, hdri=str(hdris[0]), hdri_rotation=90.0, world_strength=1.0)
    a, b = backend.render(plain), backend.render(lit)
    assert np.array_equal(a.instance_map, b.instance_map)
    sky = ~np.isfinite(a.depth)
    assert sky.any() and np.abs(a.rgb[sky].astype(int) - b.rgb[sky]).mean() > 5, "the HDRI shows as the background"
