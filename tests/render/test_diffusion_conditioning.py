"""Conditioning images drawn from a render: the colours, depth and edges ControlNets read."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.recipe import ade20k
from synthgen.render.backends.diffusion.conditioning import class_colors, conditioning_image, depth_map
from synthgen.render.scene import Camera, Render, Scene, SceneObject


def toy() -> tuple[Render, Scene]:
    """Two objects on a ground plane, sky in the top rows."""
    instance_map = np.zeros((8, 10), np.int32)
    instance_map[4:7, 1:4], instance_map[3:7, 6:9] = 1, 2
    depth = np.full((8, 10), 5.0, np.float32)
    depth[:2] = np.inf
    depth[instance_map == 1], depth[instance_map == 2] = 2.0, 4.0
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[instance_map == 1] = 255
    objects = tuple(SceneObject(i, name, "primitive:cube", (0, 0, 0), 0, 1, (1, 1, 1)) for i, name in ((1, "cube"), (2, "ball")))
    scene = Scene(0, 10, 8, "workbench", 1, False, objects, Camera((0, 0, 5), (0, 0, 0), 35), (), True, (0, 0, 0), (0, 0, 0), 0.3)
    return Render(rgb, instance_map, depth), scene


def test_segmentation_paints_classes_ground_and_world_apart():
    render, scene = toy()
    image = conditioning_image("segmentation", render, scene, ["cube", "ball"], {})
    colors = class_colors(["cube", "ball"])
    assert tuple(image[5, 2]) == colors["cube"] and tuple(image[5, 7]) == colors["ball"]
    assert colors["cube"] != colors["ball"]
    assert tuple(image[0, 0]) == (0, 0, 0) and tuple(image[7, 0]) == (64, 64, 64)


def test_ade20k_map_uses_the_palette_of_the_mapped_class():
    render, scene = toy()
    image = conditioning_image("ade20k", render, scene, ["cube", "ball"], {"cube": "box"})
    assert tuple(image[5, 2]) == ade20k.color_of("box") == (0, 255, 20)
    assert tuple(image[5, 7]) == ade20k.color_of("ball")
    assert tuple(image[0, 0]) == ade20k.color_of("wall") and tuple(image[7, 0]) == ade20k.color_of("floor")
    assert ade20k.color_of("person") == (150, 5, 61)  # a colour everyone who used ADE20K knows
    with pytest.raises(KeyError):
        conditioning_image("ade20k", render, scene, ["cube", "ball"], {})  # 'cube' is no ADE20K class


def test_depth_is_bright_near_and_black_where_nothing_was_hit():
    render, _ = toy()
    image = depth_map(render.depth)
    assert image[5, 2, 0] == 255 > image[5, 7, 0] > image[7, 0, 0] > 0 == image[0, 0, 0]
    assert (image[..., 0] == image[..., 2]).all()


def test_canny_edges_outline_the_bright_object():
    pytest.importorskip("cv2")
    render, scene = toy()
    edges = conditioning_image("canny", render, scene, ["cube", "ball"], {})
    assert edges[..., 0].any() and not edges[0:2, :, 0].any()
    assert set(np.unique(edges)) <= {0, 255}
