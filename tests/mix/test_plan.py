"""`plan`: count what is rare, write a recipe (valid for load_recipe) that renders the deficit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from mixing_helpers import WAREHOUSE, write_dataset, write_warehouse_recipe
from paths import ASSETS, SCENES
from typer.testing import CliRunner

from synthgen.cli import app
from synthgen.labels import Provenance
from synthgen.mix.plan import count_field, plan_generation, write_plan
from synthgen.recipe import RecipeError, load_recipe
from synthgen.recipe.diffusion import resolve_model


@pytest.fixture
def base_recipe(tmp_path: Path) -> Path:
    return write_warehouse_recipe(tmp_path)


@pytest.fixture
def real(tmp_path: Path) -> Path:
    images = [["forklift"]] * 10 + [["pallet", "pallet", "person"]] * 20 + [["crate"]] * 5
    return write_dataset(tmp_path / "real", ["forklift", "pallet", "person", "crate"], images, Provenance(source="human"), seed=1)


def test_plan_writes_a_loadable_recipe_for_the_deficit(real, base_recipe, tmp_path):
    out = tmp_path / "plans/warehouse_plan.yaml"
    plan = write_plan(str(real), base_recipe, out, min_per_class=30, drop_rate=0.1)
    assert plan.satisfied == {"pallet": 40}
    assert [(c.name, c.have, c.deficit, c.base_mean) for c in plan.classes] == [("forklift", 10, 20, 2.0), ("person", 20, 10, 1.0)]
    assert [(c.name, c.deficit) for c in plan.missing] == [("crate", 25)]
    # forklift needs 20 / (2 * 0.9) = 11.1 -> 12 images; person then 10 / (12 * 0.9) = 0.93 -> 1.0 per image
    assert plan.images == 12
    assert [c.planned_mean for c in plan.classes] == [1.9, 1.0]
    recipe = load_recipe(out)
    assert recipe.name == "warehouse_plan" and recipe.count == 12 and recipe.seed == 3
    assert recipe.class_names == ["Forklift", "person"]
    assert recipe.asset_files(recipe.classes[0]) == [(base_recipe.parent / "meshes/forklift.obj").resolve()]
    data = yaml.safe_load(out.read_text())
    assert data["classes"][0]["count"] == {"choice": [1, 2, 2, 2, 2, 2, 2, 2, 2, 2]}
    assert data["classes"][1]["count"] == 1
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert "# Assumes 10% of rendered instances are dropped by the label filters." in header
    assert "# forklift: has 10, needs 20 more; 1.9 per image (base recipe: 2) x 12 images x 0.9 kept" in header
    assert "# crate: has 5, needs 25 more, but the base recipe has no such class" in header


def test_planned_counts_cover_each_deficit():
    counts = Counter({"a": 0, "b": 95, "c": 40})
    plan = plan_generation(counts, {"a": 3.0, "b": 1.0, "c": 2.5}, min_per_class=100, drop_rate=0.2)
    for c in plan.classes:
        assert c.planned_mean * plan.images * 0.8 >= c.deficit
        assert c.planned_mean <= c.base_mean + 0.1
    assert plan.images == 42  # a: 100 / (3 * 0.8) = 41.7


def test_count_field_means():
    assert count_field(2.0) == 2
    assert count_field(0.3) == {"choice": [0] * 7 + [1] * 3}
    field = count_field(2.7)
    assert sum(field["choice"]) / 10 == pytest.approx(2.7)


def test_nothing_short_writes_nothing(real, base_recipe, tmp_path):
    out = tmp_path / "plan.yaml"
    plan = write_plan(str(real), base_recipe, out, min_per_class=5)
    assert plan.classes == [] and plan.images == 0 and not out.exists()


def test_bad_base_recipe_fails_with_its_field(real, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(WAREHOUSE.replace("count: 50", "count: -1").replace("asset: meshes/forklift.obj", "primitive: cube"))
    with pytest.raises(RecipeError, match=r"bad.yaml: count: "):
        write_plan(str(real), bad, tmp_path / "plan.yaml", min_per_class=30)
    assert not (tmp_path / "plan.yaml").exists()


EVERY_PATH = """\
version: 1
name: paths
count: 4
image: {width: 64, height: 48}
classes:
  - {name: mug, asset: ../assets/meshes/mug.obj, count: 1, material: {textures: ../assets/textures}}
  - {name: can, primitive: cylinder, count: 1, material: {textures: ../assets/textures/brick.png}}
scene:
  world: {hdri: hdri/studio.hdr}
  background: {photos: ../assets/backgrounds}
  distractors: {count: 1, asset: ../assets/meshes, material: {textures: ../assets/textures}}
diffusion:
  mode: inpaint
  model: ./models/base
  config: stable-diffusion-v1-5/stable-diffusion-inpainting
  controlnet: ./models/seg
  backgrounds: ../assets/backgrounds
  trust: {scorer: clip, model: models/clip}
"""


def _every_path_recipe(root: Path) -> Path:
    """A recipe naming every kind of path (meshes, textures, HDRI, photos, diffusion models, hub ids)."""
    for name in ("scenes/models/base", "scenes/models/seg", "scenes/models/clip", "scenes/hdri", "assets"):
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "scenes/hdri/studio.hdr").write_bytes(b"#?RADIANCE\n")
    for name in ("meshes", "textures", "backgrounds"):
        (root / "assets" / name).symlink_to(ASSETS / name)
    path = root / "scenes/every_path.yaml"
    path.write_text(EVERY_PATH)
    return path


def _model_references(recipe) -> list[str]:
    spec = recipe.diffusion
    references = [spec.model, spec.config, spec.controlnet[0].model, spec.trust.model]
    return [resolve_model(reference, recipe.base_dir) for reference in references]


def test_plan_rebases_every_path_the_recipe_names(tmp_path, monkeypatch):
    base = _every_path_recipe(tmp_path)
    real = write_dataset(tmp_path / "real", ["mug", "can"], [["mug"]] * 2 + [["can"]] * 3, Provenance(source="human"), seed=2)
    out = tmp_path / "elsewhere/deeper/plan.yaml"
    write_plan(str(real), base, out, min_per_class=5)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    before, after = load_recipe(base), load_recipe(Path("../elsewhere/deeper/plan.yaml"))
    assert after.input_files() == before.input_files()
    assert sorted(after.input_files()) == [
        "classes[0].asset", "classes[0].material.textures", "classes[1].material.textures",
        "scene.background.photos", "scene.distractors.asset", "scene.distractors.material.textures", "scene.world.hdri",
    ]
    assert _model_references(after) == _model_references(before) == [
        str(tmp_path / "scenes/models/base"), "stable-diffusion-v1-5/stable-diffusion-inpainting",
        str(tmp_path / "scenes/models/seg"), str(tmp_path / "scenes/models/clip"),
    ]
    data = yaml.safe_load(out.read_text())
    assert data["scene"]["world"]["hdri"] == "../../scenes/hdri/studio.hdr"
    assert data["diffusion"]["controlnet"] == "../../scenes/models/seg"
    assert data["diffusion"]["config"] == "stable-diffusion-v1-5/stable-diffusion-inpainting"


def test_documented_plan_of_tabletop_loads_from_another_folder(tmp_path, monkeypatch):
    """`synthgen plan DATASET --recipe scenes/tabletop.yaml -o elsewhere/plan.yaml`, as docs/mixing.md says."""
    real = write_dataset(tmp_path / "real", ["mug", "can"], [["mug"]] * 3 + [["can", "can"]] * 4, Provenance(source="human"), seed=3)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", str(real), "--min-per-class", "10", "--recipe", str(SCENES / "tabletop.yaml"), "-o", "elsewhere/plan.yaml"])
    assert result.exit_code == 0, result.output
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    planned, tabletop = load_recipe("../elsewhere/plan.yaml"), load_recipe(SCENES / "tabletop.yaml")
    assert planned.class_names == ["mug", "can"]
    assert planned.input_files() == tabletop.input_files()
    assert sorted(planned.input_files()) == ["classes[0].asset", "scene.distractors.material.textures", "scene.world.hdri"]
