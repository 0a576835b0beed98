"""Visibility, amodal masks and truncation from real (tiny) Blender renders of hand-built scenes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scene_builders import cube, scene

from synthgen.formats.coco import from_coco, to_coco
from synthgen.labels import Dataset, Sample, categories_from_names
from synthgen.render.annotate import annotate
from synthgen.render.backends.blender import BlenderBackend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    blender = BlenderBackend(threads=2)
    yield blender
    blender.close()


def test_unoccluded_object_has_visibility_one_and_amodal_equal_to_visible(backend):
    lone = scene([cube(1)])
    render = backend.render(lone)
    (instance,) = annotate(render.instance_map, lone, 1, amodal=render.amodal, truncated=render.truncated, keep_amodal=True)
    assert instance.visibility == 1.0
    assert instance.truncated is False
    assert np.array_equal(instance.decode_mask(), render.amodal[1])
    assert instance.area > 100


def test_visibility_falls_as_a_distractor_covers_more(backend):
    target = cube(1)
    visibilities = []
    for shift in (3.0, 0.8, 0.4, 0.0):  # a distractor between camera and cube, sliding over it
        occluded = scene([target], [cube(0, x=shift, y=-2.0)])
        render = backend.render(occluded)
        visible = render.instance_map == 1
        assert not (visible & ~render.amodal[1]).any(), "visible pixels outside the amodal mask"
        (instance,) = annotate(render.instance_map, occluded, 1, amodal=render.amodal, truncated=render.truncated)
        assert instance.visibility == pytest.approx(visible.sum() / render.amodal[1].sum())
        visibilities.append(instance.visibility)
    assert visibilities[0] == 1.0
    assert visibilities[0] > visibilities[1] > visibilities[2] > visibilities[3] > 0
    assert "distractor" not in {i.category for i in annotate(render.instance_map, occluded, 1)}


def test_amodal_mask_is_exactly_the_mask_of_the_object_rendered_alone(backend):
    target = cube(1)
    occluded = backend.render(scene([target], [cube(0, x=0.4, y=-2.0)]))
    alone = backend.render(scene([target]))
    assert (occluded.instance_map == 1).sum() < (alone.instance_map == 1).sum()
    assert np.array_equal(occluded.amodal[1], alone.instance_map == 1)


def test_labelled_objects_occluding_each_other(backend):
    pair = scene([cube(1, y=1.0), cube(2, x=0.3, y=-1.0)])
    render = backend.render(pair)
    back, front = annotate(render.instance_map, pair, 1, amodal=render.amodal, truncated=render.truncated)
    assert back.visibility < 1.0 and front.visibility == 1.0
    assert annotate(render.instance_map, pair, 1, amodal=render.amodal, min_visibility=back.visibility + 0.01) == [front]


def test_truncated_object_reaches_outside_the_frame(backend):
    edge = scene([cube(1, x=3.2), cube(2, x=-0.5)])
    render = backend.render(edge)
    instances = annotate(render.instance_map, edge, 1, amodal=render.amodal, truncated=render.truncated)
    assert [(i.truncated, i.visibility) for i in instances] == [(True, 1.0), (False, 1.0)]
    assert render.instance_map[:, -1].any()


def test_amodal_masks_round_trip_through_coco(backend):
    occluded = scene([cube(1)], [cube(0, x=1.0, y=-2.0, scale=2.0)])  # hides the cube's right part
    render = backend.render(occluded)
    instances = annotate(render.instance_map, occluded, 1, amodal=render.amodal, truncated=render.truncated, keep_amodal=True)
    sample = Sample("images/000000.png", occluded.width, occluded.height, instances)
    coco = to_coco(Dataset(categories_from_names(["cube"]), [sample]))
    (entry,) = coco["annotations"]
    (ax, ay, aw, ah), (x, y, w, h) = entry["amodal_bbox"], entry["bbox"]
    assert ax <= x and ay <= y and ax + aw >= x + w and ay + ah >= y + h
    assert aw * ah > w * h, "the amodal box holds the hidden part too"
    assert 0 < entry["visibility"] < 1
    back = from_coco(json.loads(json.dumps(coco)))
    assert dataclasses.asdict(back.samples[0].instances[0]) == dataclasses.asdict(instances[0])
