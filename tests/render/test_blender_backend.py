"""The Blender backend on hand-built Scenes: materials of assets survive reuse, passes line up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.render.scene import Camera, Light, Scene, SceneObject

CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (0, 1) for y in (0, 1) for z in (0, 1)) + (
    "usemtl red\nf 1 2 4 3\nf 5 7 8 6\nf 1 5 6 2\nf 3 4 8 7\nf 1 3 7 5\nf 2 6 8 4\n"
)


def one_object_scene(mesh: str, color=(0.0, 0.0, 1.0)) -> Scene:
    obj = SceneObject(1, "box", mesh, (0.0, 0.0, 0.0), 0.0, 1.0, color)
    return Scene(
        index=0, width=32, height=24, engine="cycles", samples=4, denoise=False, objects=(obj,),
        camera=Camera((3.0, -3.0, 2.0), (0.0, 0.0, 0.5), 35.0),
        lights=(Light("point", (2.0, -2.0, 4.0), 800.0, (1.0, 1.0, 1.0)),),
        ground=True, ground_color=(0.5, 0.5, 0.5), world_color=(1.0, 1.0, 1.0), world_strength=0.5,
    )


def test_asset_material_survives_scene_resets(backend, tmp_path):
    (tmp_path / "m.mtl").write_text("newmtl red\nKd 1.0 0.0 0.0\n")
    (tmp_path / "box.obj").write_text("mtllib m.mtl\n" + CUBE_OBJ)
    scene = one_object_scene(str(tmp_path / "box.obj"))
    for _ in range(2):
        render = backend.render(scene)
        red, green, blue = render.rgb[render.instance_map == 1].mean(axis=0)
        assert red > 2 * max(green, blue)  # the MTL's red, not the Scene's blue


def test_primitive_takes_the_scene_colour_and_passes_align(backend):
    render = backend.render(one_object_scene("primitive:cube", color=(0.0, 0.0, 1.0)))
    inside = render.instance_map == 1
    assert render.rgb.shape == (24, 32, 3) and render.instance_map.dtype == np.int32
    assert set(np.unique(render.instance_map)) == {0, 1}
    red, green, blue = render.rgb[inside].mean(axis=0)
    assert blue > red and blue > green
    assert np.isfinite(render.depth[inside]).all()
    assert 2.0 < render.depth[inside].mean() < 5.0  # the camera stands about 4.7 m from the cube


def test_scratch_folder_is_removed_on_close_and_at_exit(tmp_path):
    import subprocess
    import sys

    from synthgen.render.backends.blender import BlenderBackend

    instance = BlenderBackend(threads=1)
    folder = instance.workdir
    assert folder.is_dir()
    instance.close()
    assert not folder.exists()
    script = "from synthgen.render.backends.blender import BlenderBackend; print(BlenderBackend(threads=1).workdir)"
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert not Path(printed.strip().splitlines()[-1]).exists()  # a worker that never calls close()
