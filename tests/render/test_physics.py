"""Physics placement: objects dropped with rigid bodies settle on the ground or on each other,
without interpenetrating, and the same Scene settles the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scene_builders import cube, scene

from synthgen.recipe import parse_recipe
from synthgen.render.backends.blender import BlenderBackend
from synthgen.render.sampling import sample

pytestmark = pytest.mark.slow

RECIPE = {
    "version": 1,
    "name": "drop",
    "seed": 4,
    "count": 1,
    "image": {"width": 64, "height": 48},
    "render": {"samples": 1},
    "classes": [
        {"name": "box", "primitive": "cube", "count": 3, "scale": [0.6, 1.0]},
        {"name": "can", "primitive": "cylinder", "count": 2, "scale": [0.6, 1.0]},
    ],
    "scene": {
        "placement": "physics",
        "physics": {"frames": 90, "spread": 0.4},
        "distractors": {"count": 2, "primitives": ["cone", "torus"]},
    },
}
TOLERANCE = 0.03  # metres: shrink/grow margin for contact tests, on objects of 0.6..1 m


@pytest.fixture(scope="module")
def settled():
    recipe = parse_recipe(RECIPE, Path("drop.yaml"))
    backend = BlenderBackend(threads=2)
    scene = sample(recipe, 0)
    first = backend.render(scene)
    first_poses = [np.array(o.matrix_world) for o in backend.labelled + backend.others[1:]]
    second = backend.render(scene)
    bodies = backend.labelled + backend.others[1:]
    yield backend, scene, bodies, (first, first_poses), second
    backend.close()


def _world_vertices(blender_object) -> np.ndarray:
    mesh = blender_object.data
    coords = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", coords)
    points = np.c_[coords.reshape(-1, 3), np.ones(len(mesh.vertices))]
    return (points @ np.array(blender_object.matrix_world).T)[:, :3]


def _tree(blender_object, grow: float):
    """BVH of the object's surface, scaled about its centre so its surface moves out by `grow` metres."""
    from mathutils.bvhtree import BVHTree

    points = _world_vertices(blender_object)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    radius = np.linalg.norm(points - centre, axis=1).max()
    points = centre + (points - centre) * (1 + grow / radius)
    return BVHTree.FromPolygons(points.tolist(), [tuple(p.vertices) for p in blender_object.data.polygons])


def test_settled_objects_do_not_interpenetrate(settled):
    _, _, bodies, _, _ = settled
    shrunk = [_tree(b, -TOLERANCE) for b in bodies]
    for i in range(len(bodies)):
        for j in range(i + 1, len(bodies)):
            assert not shrunk[i].overlap(shrunk[j]), f"{bodies[i].name} and {bodies[j].name} interpenetrate"


def test_settled_objects_rest_on_the_ground_or_on_each_other(settled):
    _, scene, bodies, _, _ = settled
    grown = [_tree(b, TOLERANCE) for b in bodies]
    lowest = [_world_vertices(b)[:, 2].min() for b in bodies]
    for i, body in enumerate(bodies):
        assert lowest[i] > -TOLERANCE, f"{body.name} sank into the ground"
        on_ground = lowest[i] < TOLERANCE
        on_other = any(grown[i].overlap(grown[j]) for j in range(len(bodies)) if j != i)
        assert on_ground or on_other, f"{body.name} floats {lowest[i]:.3f} m up"
    starts = [o.location[2] for o in scene.objects + scene.distractors]
    assert all(start > 0.5 for start in starts), "objects should start in the air"


def test_same_scene_settles_the_same_way(settled):
    backend, _, bodies, (first, first_poses), second = settled
    for pose, body in zip(first_poses, bodies, strict=True):
        assert np.allclose(pose, np.array(body.matrix_world), atol=1e-6)
    assert np.array_equal(first.instance_map, second.instance_map)
    assert not backend.bpy.data.collections, "the rigid-body world must not leave collections behind"
    assert backend.bpy.context.scene.rigidbody_world is None


def test_object_dropped_on_another_comes_to_rest_on_top_of_it(settled):
    backend = settled[0]
    drop = scene([cube(1, scale=2.0), cube(2, x=0.2, z=3.0, scale=0.5, tilt=(20.0, 10.0))], physics_frames=120)
    render = backend.render(drop)
    base, top = backend.labelled
    assert _world_vertices(top)[:, 2].min() == pytest.approx(2.0, abs=TOLERANCE), "rests on the 2 m cube"
    assert not _tree(base, -TOLERANCE).overlap(_tree(top, -TOLERANCE))
    assert set(np.unique(render.instance_map)) == {0, 1, 2}
