"""Recipe schema: valid recipes load; every kind of mistake is one line with file and field path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from paths import REPO
from recipes import write_recipe
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.recipe import RecipeError, load_recipe
from synthgen.recipe.distributions import parse


def test_quickstart_loads_with_its_fields():
    recipe = load_recipe(REPO / "scenes" / "quickstart.yaml")
    assert recipe.name == "quickstart"
    assert recipe.count == 8 and recipe.seed == 7
    assert (recipe.image.width, recipe.image.height) == (320, 240)
    assert recipe.class_names == ["mug", "cone"]
    assert recipe.classes[0].count.bounds == (1, 3)
    assert recipe.output.formats == ["coco", "yolo"]
    assert recipe.asset_files(recipe.classes[0]) == [REPO / "assets" / "meshes" / "mug.obj"]


def errors_of(tmp_path: Path, **overrides) -> list[str]:
    path = write_recipe(tmp_path, **overrides)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    return caught.value.problems


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"colour": "red"}, "colour: unknown key"),
        ({"count": "many"}, "count: Input should be a valid integer, unable to parse string as an integer (got 'many')"),
        ({"count": -1}, "count: Input should be greater than or equal to 1 (got -1)"),
        ({"version": 2}, "version: Input should be 1"),
        ({"image": {"width": 64, "height": 48, "depth": 3}}, "image.depth: unknown key"),
        ({"classes": [{"name": "a", "primitive": "cone", "count": [5, 2]}]}, "classes[0].count: min 5 > max 2"),
        ({"classes": [{"name": "a", "primitive": "cone", "count": -2}]}, "classes[0].count: must be >= 0, got -2"),
        ({"classes": [{"name": "a", "primitive": "cone", "count": 1.5}]}, "classes[0].count: expected a whole number, got 1.5"),
        ({"classes": [{"name": "a", "primitive": "blob"}]}, "classes[0].primitive: Input should be 'cube', 'sphere', 'cylinder', 'cone', 'torus' or 'monkey' (got 'blob')"),
        ({"classes": [{"name": "a"}]}, "classes[0]: give exactly one of 'asset' or 'primitive'"),
        ({"classes": [{"name": "a", "primitive": "cone", "scale": {"normal": [1, -1]}}]}, "classes[0].scale: normal std -1 < 0"),
        ({"classes": [{"name": "a", "primitive": "cone"}, {"name": "a", "primitive": "cube"}]}, "classes: class name 'a' appears twice"),
        ({"scene": {"camera": {"elevation": [10, 95]}}}, "scene.camera.elevation: elevation must stay within [-89, 89]"),
        ({"render": {"engine": "eevee"}}, "render.engine: Input should be 'cycles' or 'workbench' (got 'eevee')"),
        ({"output": {"formats": ["coco", "pascal"]}}, "output.formats[1]: Input should be 'coco', 'yolo', 'yolo-seg' or 'voc' (got 'pascal')"),
        ({"classes": []}, "classes: List should have at least 1 item"),
    ],
)
def test_each_mistake_is_one_line_with_file_and_field(tmp_path, overrides, expected):
    problems = errors_of(tmp_path, **overrides)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'tiny.yaml'}: {expected}"), problems[0]


def test_several_mistakes_give_one_line_each(tmp_path):
    problems = errors_of(tmp_path, colour="red", classes=[{"name": "a", "primitive": "cone", "count": [3, 1]}])
    assert sorted(p.split(": ", 1)[1] for p in problems) == ["classes[0].count: min 3 > max 1", "colour: unknown key"]


def test_missing_asset_named_with_resolved_path(tmp_path):
    problems = errors_of(tmp_path, classes=[{"name": "a", "asset": "meshes/nope.obj"}])
    assert problems == [f"{tmp_path / 'tiny.yaml'}: classes[0].asset: no such file or folder: {tmp_path / 'meshes' / 'nope.obj'}"]


def test_asset_folder_without_meshes_and_wrong_suffix(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    problems = errors_of(tmp_path, classes=[{"name": "a", "asset": "empty"}, {"name": "b", "asset": "notes.txt"}])
    assert "classes[0].asset: no mesh files (.obj .ply .stl .glb .gltf) found" in problems[0]
    assert "classes[1].asset: unsupported mesh type '.txt'" in problems[1]


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(RecipeError, match="absent.yaml: no such file"):
        load_recipe(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nclasses: [\n")
    with pytest.raises(RecipeError, match=r"bad.yaml: not valid YAML"):
        load_recipe(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(RecipeError, match="expected a mapping"):
        load_recipe(bad)


def test_asset_paths_are_relative_to_the_recipe(tmp_path):
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "a.obj").write_text((REPO / "assets/meshes/mug.obj").read_text())
    (tmp_path / "meshes" / "b.stl").write_bytes(b"")
    recipe = load_recipe(write_recipe(tmp_path, classes=[{"name": "a", "asset": "meshes"}]))
    assert recipe.asset_files(recipe.classes[0]) == [tmp_path / "meshes" / "a.obj", tmp_path / "meshes" / "b.stl"]


def test_overrides_and_hash_ignores_count(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    bigger = recipe.with_overrides(count=100)
    assert bigger.count == 100 and bigger.source == recipe.source
    assert bigger.content_hash() == recipe.content_hash()
    assert recipe.with_overrides(seed=4).content_hash() != recipe.content_hash()
    with pytest.raises(RecipeError, match="--count: expected 1 to 1000000 images \(got 0\)"):
        recipe.with_overrides(count=0)


def test_distributions_draw_inside_their_bounds():
    rng = np.random.default_rng(0)
    uniform_int = parse([2, 4], integer=True)
    assert {uniform_int.draw(rng) for _ in range(200)} == {2, 3, 4}
    choice = parse({"choice": [1, 8]})
    assert {choice.draw(rng) for _ in range(100)} == {1.0, 8.0}
    normal = parse({"normal": [0, 10], "clip": [-1, 1]})
    assert all(-1 <= normal.draw(rng) <= 1 for _ in range(100))
    assert parse(3).draw(rng) == 3.0
    for bad, message in [([1], "expected \\[min, max\\]"), (True, "expected a number"), ({"choice": []}, "non-empty")]:
        with pytest.raises(ValueError, match=message):
            parse(bad)


def test_cli_validate_prints_summary_or_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(REPO / "scenes" / "quickstart.yaml")])
    assert result.exit_code == 0, result.output
    assert "recipe 'quickstart', 8 images, backend blender (cycles, 8 samples), 320x240, 2 classes" in result.output
    bad = write_recipe(tmp_path, classes=[{"name": "a", "primitive": "cone", "count": [5, 2]}])
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: classes[0].count: min 5 > max 2" in result.output
