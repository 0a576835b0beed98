"""`plan --from-experiment`: per-class verdicts of an experiment's results.json -> the next recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import invoke
from mixing_helpers import write_dataset, write_warehouse_recipe

from synthgen.errors import InputError
from synthgen.labels import Provenance
from synthgen.mix.plan_experiment import read_evidence, write_plan_from_experiment
from synthgen.recipe import load_recipe


def delta(mean: float, low: float, high: float, verdict: str) -> dict:
    return {"ap": {"mean": mean, "ci": [low, high]}, "verdict": verdict}


DELTAS = {
    "real+blender": {
        "forklift": delta(0.10, 0.02, 0.18, "helps"),
        "pallet": delta(-0.05, -0.09, -0.01, "hurts"),
        "person": delta(0.01, -0.03, 0.05, "no evidence"),
        "drum": delta(0.01, -0.03, 0.05, "no evidence"),
        "truck": delta(0.2, 0.1, 0.3, "helps"),
    },
    "blender": {
        "forklift": delta(0.15, 0.01, 0.30, "helps"),
        "pallet": delta(0.0, -0.02, 0.02, "no evidence"),
        "person": delta(-0.10, -0.20, -0.01, "hurts"),
        "drum": delta(-0.02, -0.05, 0.01, "no evidence"),
        "truck": delta(0.0, -0.1, 0.1, "no evidence"),
    },
}
REASONS = [
    "crate: not measured by the experiment; none planned",
    "drum: no evidence that synthetic data helps (best AP +0.010 [-0.030, +0.050] with real+blender); none planned",
    "forklift: synthetic data helped (AP +0.150 [+0.010, +0.300] with blender); has 10, plan 30 more like blender, 2 per image",
    "pallet: synthetic data hurt (AP -0.050 [-0.090, -0.010] with real+blender); none planned",
    "person: synthetic data hurt (AP -0.100 [-0.200, -0.010] with blender); none planned",
    "truck: synthetic data helped (AP +0.200 [+0.100, +0.300] with real+blender); has 0, but the base recipe has no such class",
]


@pytest.fixture
def case(tmp_path: Path) -> dict[str, Path]:
    images = [["forklift"]] * 10 + [["pallet", "pallet", "person"]] * 20 + [["crate"]] * 5
    real = write_dataset(tmp_path / "real", ["forklift", "pallet", "person", "crate"], images, Provenance(source="human"), seed=1)
    recipe = write_warehouse_recipe(tmp_path)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp/results.json").write_text(json.dumps({"arms": {}, "deltas": DELTAS, "setup": {}}))
    return {"real": real, "recipe": recipe, "exp": tmp_path / "exp", "out": tmp_path / "plans/next.yaml"}


def test_helped_short_classes_get_their_deficit_and_every_class_a_reason(case):
    planned = write_plan_from_experiment(str(case["real"]), case["exp"], case["recipe"], case["out"])
    assert planned.target == 40  # the most common class (pallet) without --min-per-class
    assert list(planned.reasons.values()) == REASONS
    # forklift: 30 short / (2 per image x 0.9 kept) = 16.7 -> 17 images; 30 / (17 x 0.9) = 1.96 -> 2.0 per image
    assert [(c.name, c.have, c.deficit, c.planned_mean) for c in planned.plan.classes] == [("forklift", 10, 30, 2.0)]
    assert [(c.name, c.deficit) for c in planned.plan.missing] == [("truck", 40)]
    recipe = load_recipe(case["out"])
    assert (recipe.name, recipe.count, [c.name for c in recipe.classes]) == ("warehouse_plan", 17, ["Forklift"])
    assert yaml.safe_load(case["out"].read_text())["classes"] == [{"name": "Forklift", "asset": "../scenes/meshes/forklift.obj", "count": 2}]
    header = [line[2:] for line in case["out"].read_text().splitlines() if line.startswith("# ")]
    assert header[2:] == REASONS


def test_plan_command_with_experiment_and_min_per_class(case):
    run = invoke("plan", case["real"], "--from-experiment", case["exp"], "--recipe", case["recipe"], "-o", case["out"], "--min-per-class", 30)
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert lines[2] == "forklift: synthetic data helped (AP +0.150 [+0.010, +0.300] with blender); has 10, plan 20 more like blender, 1.9 per image"
    assert lines[:2] + lines[3:] == [*REASONS[:2], *REASONS[3:], f"{case['out']}: 12 images"]
    assert load_recipe(case["out"]).count == 12


def test_nothing_helped_writes_no_recipe(case):
    hurt = {"real+blender": {name: delta(-0.1, -0.2, -0.05, "hurts") for name in ("forklift", "pallet", "person", "crate")}}
    (case["exp"] / "results.json").write_text(json.dumps({"deltas": hurt}))
    run = invoke("plan", case["real"], "--from-experiment", case["exp"], "--recipe", case["recipe"], "-o", case["out"])
    assert run.exit_code == 0, run.output
    assert run.output.splitlines()[-1] == "nothing to render; no recipe written" and not case["out"].exists()
    assert "forklift: synthetic data hurt (AP -0.100 [-0.200, -0.050] with real+blender); none planned" in run.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "results.json: cannot read an experiment's results: Expecting property name"),
        ('{"arms": {}}', "results.json: deltas: expected an object of arms (got {\"arms\": {}})"),
        ('{"deltas": {"sim": {"a": {"ap": {"mean": 0.1}, "verdict": "great"}}}}', "results.json: deltas.sim.a.verdict: expected helps | hurts | no evidence"),
        ('{"deltas": {"sim": {"a": {"ap": {"mean": "x"}, "verdict": "helps"}}}}', "results.json: deltas.sim.a.ap.mean: expected a number (got {\"mean\": \"x\"})"),
    ],
)
def test_bad_results_fail_naming_the_field(case, content, message):
    (case["exp"] / "results.json").write_text(content)
    with pytest.raises(InputError) as error:
        read_evidence(case["exp"])
    assert str(error.value).startswith(f"{case['exp']}/{message}")
    run = invoke("plan", case["real"], "--from-experiment", case["exp"], "--recipe", case["recipe"], "-o", case["out"])
    assert run.exit_code == 1 and run.output.startswith(f"error: {case['exp']}/{message}") and run.output.count("\n") == 1


def test_plan_without_experiment_still_needs_min_per_class(case):
    run = invoke("plan", case["real"], "--recipe", case["recipe"], "-o", case["out"])
    assert (run.exit_code, run.output) == (1, "error: --min-per-class: expected a number of instances (or --from-experiment EXP)\n")
