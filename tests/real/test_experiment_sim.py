"""`synthgen experiment` end to end, sim-to-sim, on real Blender renders at 64x48.

The "real" domain is `benchmarks/sim_to_sim/real_domain.yaml` with the COCO photos of tests/data as
backgrounds: photo backgrounds, sun and point lights, colour jitter, noise and blur, and a rare cone.
Its renders go through their YOLO export (`synthgen convert --from yolo`), which carries no
provenance, so they count as real images. The synthetic domain is the plain
`benchmarks/sim_to_sim/synthetic_domain.yaml`. The experiment runs as a user runs it, is killed
(SIGKILL) once its first (arm, seed) is kept, resumes, and `plan --from-experiment` acts on it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from executor_helpers import kill_run_after
from helpers import assert_experiment_results, invoke
from paths import COCO_PERSON, REPO

from synthgen.real.experiment import RUN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOMAINS = REPO / "benchmarks" / "sim_to_sim"
ARMS = ["real", "real+sim", "sim"]
CLASSES = ["cube", "cone"]  # the recipes' order; the cone is the rare class
RUNS = [(arm, seed) for seed in (0, 1) for arm in ARMS]  # the order the experiment trains them in


def tiny_recipe(name: str, folder: Path) -> Path:
    """A domain recipe at 64x48, photo backgrounds (if any) from tests/data."""
    data = yaml.safe_load((DOMAINS / f"{name}.yaml").read_text())
    data["image"] = {"width": 64, "height": 48}
    if "background" in data["scene"]:
        data["scene"]["background"]["photos"] = str(COCO_PERSON)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def synthgen(*args) -> str:
    run = invoke(*args)
    assert run.exit_code == 0, run.output
    return run.output


def class_counts(folder: Path) -> dict[str, int]:
    labels = json.loads((folder / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in labels["categories"]}
    counts = {names[i]: 0 for i in sorted(names)}
    for annotation in labels["annotations"]:
        counts[names[annotation["category_id"]]] += 1
    return counts


def sources(folder: Path) -> set[str]:
    return {image["provenance"]["source"] for image in json.loads((folder / "annotations.json").read_text())["images"]}


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> dict[str, Path]:
    """Rendered once: the real domain's training and test sets (as imported photos) and the synthetic set."""
    root = tmp_path_factory.mktemp("sim-to-sim")
    real_recipe, synthetic_recipe = tiny_recipe("real_domain", root), tiny_recipe("synthetic_domain", root)
    synthgen("render", real_recipe, "-o", root / "real_render", "--count", 8, "-q")
    synthgen("render", real_recipe, "-o", root / "test_render", "--count", 8, "--seed", 13, "-q")
    synthgen("render", synthetic_recipe, "-o", root / "synthetic", "--count", 8, "-q")
    for name in ("real", "test"):
        synthgen("convert", root / f"{name}_render" / "yolo", "--from", "yolo", "-o", root / name)
    return {"real": root / "real", "test": root / "test", "synthetic": root / "synthetic", "recipe": real_recipe}


def test_the_domains_hold_a_rare_class_and_only_the_synthetic_set_is_synthetic(domains):
    assert class_counts(domains["real"]) == {"cube": 12, "cone": 2}
    assert class_counts(domains["test"]) == {"cube": 14, "cone": 3}
    assert class_counts(domains["synthetic"]) == {"cube": 8, "cone": 8}
    assert (sources(domains["real"]), sources(domains["test"]), sources(domains["synthetic"])) == ({"import"}, {"import"}, {"render"})


def arguments(domains: dict[str, Path], out: Path) -> list[str]:
    return [str(a) for a in [
        "experiment", "-o", out, "--real", domains["real"], "--test", domains["test"], "--synthetic", f"sim={domains['synthetic']}",
        "--arms", ",".join(ARMS), "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn", "--steps", 3, "--seeds", 2,
        "--image-size", 64, "--batch-size", 2, "--lr", 0.02, "--device", "cpu", "--workers", 1, "--threads", 1,
    ]]  # fmt: skip


def kept(out: Path) -> list[tuple[str, int]]:
    """The finished (arm, seed) runs in `out`, in training order."""
    return [(arm, seed) for arm, seed in RUNS if (out / "runs" / arm / f"seed-{seed}" / RUN).is_file()]


@pytest.fixture(scope="module")
def resumed(domains, tmp_path_factory):
    """The experiment killed (it and every process it started) once a run is kept, then the same
    command again, which must leave the kept runs' files as they were: (folder, runs kept at the
    kill, the second command's output)."""
    out = tmp_path_factory.mktemp("experiment") / "exp"
    kill_run_after(arguments(domains, out), out, 1, count=lambda out: len(kept(out)))
    before = kept(out)
    assert 1 <= len(before) < len(RUNS)
    assert not (out / "results.json").exists()
    files = [out / "runs" / arm / f"seed-{seed}" / RUN for arm, seed in before]
    stamps = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]
    output = synthgen(*arguments(domains, out))
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files] == stamps  # kept runs are not trained again
    return out, before, output


def test_the_rerun_trains_only_the_runs_the_kill_left(resumed):
    out, before, output = resumed
    missing = [run for run in RUNS if run not in before]
    lines = output.splitlines()
    assert lines[: len(missing) + 1] == [
        *(f"trained: {arm} seed {seed}" for arm, seed in missing), f"{out}: {len(missing)} runs trained, {len(before)} kept"
    ]
    assert kept(out) == RUNS
    assert [line.split(" AP ")[0] for line in lines[len(missing) + 1 :]] == [f"{arm}: {name}:" for arm in ARMS[1:] for name in CLASSES]


def test_results_hold_every_arm_class_interval_and_verdict(resumed, domains):
    results = json.loads((resumed[0] / "results.json").read_text())
    assert_experiment_results(results, ARMS, CLASSES)
    setup = results["setup"]
    assert (setup["seeds"], setup["classes"], setup["measured_classes"], setup["test_images"]) == ([0, 1], CLASSES, CLASSES, 8)
    assert setup["arm_images"] == {
        "real": {"images": 8, "synthetic_images": 0}, "real+sim": {"images": 16, "synthetic_images": 8},
        "sim": {"images": 8, "synthetic_images": 8},
    }  # fmt: skip


def test_plan_from_the_experiment_follows_its_verdicts(resumed, domains, tmp_path):
    results = json.loads((resumed[0] / "results.json").read_text())
    written = tmp_path / "next.yaml"
    lines = synthgen("plan", domains["real"], "--from-experiment", resumed[0], "--recipe", domains["recipe"], "-o", written).splitlines()
    helped = [name for name in sorted(CLASSES) if any(d[name]["verdict"] == "helps" for d in results["deltas"].values())]
    hurt = [name for name in sorted(CLASSES) if name not in helped and any(d[name]["verdict"] == "hurts" for d in results["deltas"].values())]
    why = {name: "synthetic data helped" if name in helped else "synthetic data hurt" if name in hurt else "no evidence that synthetic data helps"
           for name in sorted(CLASSES)}  # fmt: skip
    assert [re.sub(r" \(.*", "", line) for line in lines[:2]] == [f"{name}: {why[name]}" for name in sorted(CLASSES)]
    if not helped:  # at 3 steps the detectors have not learnt: nothing is planned
        assert lines[2:] == ["nothing to render; no recipe written"] and not written.exists()


def test_plan_renders_more_of_a_class_synthetic_data_helped(resumed, domains, tmp_path):
    """The same experiment's results with the rare cone's verdict set to "helps" (3 steps teach the
    detectors nothing, so the real verdicts never say it): the plan is written from the real
    domain's recipe (photos, augmentation, lights: its paths rebased) and validates."""
    results = json.loads((resumed[0] / "results.json").read_text())
    results["deltas"]["real+sim"]["cone"].update(ap={"mean": 0.2, "ci": [0.1, 0.3]}, verdict="helps")
    experiment = tmp_path / "exp"
    experiment.mkdir()
    (experiment / "results.json").write_text(json.dumps(results))
    written = tmp_path / "plans" / "next.yaml"
    lines = synthgen("plan", domains["real"], "--from-experiment", experiment, "--recipe", domains["recipe"], "-o", written).splitlines()
    assert lines[0] == "cone: synthetic data helped (AP +0.200 [+0.100, +0.300] with real+sim); has 2, plan 10 more like sim, 0.2 per image"
    assert re.fullmatch(rf"{re.escape(str(written))}: \d+ images", lines[-1]), lines
    assert synthgen("validate", written).startswith(f"{written}: ok: recipe 'real_domain_plan'")
    plan = yaml.safe_load(written.read_text())
    assert [c["name"] for c in plan["classes"]] == ["cone"]
    assert (tmp_path / "plans" / plan["scene"]["background"]["photos"]).resolve() == COCO_PERSON.resolve()
