"""`synthgen experiment` end to end at tiny sizes, sim-to-sim: a "real" domain of shapes on dark noise
(reviewed provenance) and a synthetic domain in other colours on brighter noise. Real detectors
(random weights, a few steps), the real command line, resume after SIGKILL, more seeds, refusals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, open_in_chromium
from executor_helpers import kill_run_after
from helpers import assert_experiment_results, invoke, make_shapes_dataset

from synthgen.real.experiment import RUN
from synthgen.recipe import load_recipe

ARMS = ["real", "real+sim", "sim"]
CLASSES = ["square", "disk"]
STEPS = 3
SIM_COLOURS = {"square": (200, 120, 40), "disk": (90, 160, 250)}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("experiment-inputs")
    make_shapes_dataset(root / "real", 6, seed=1, source="human")
    make_shapes_dataset(root / "test", 5, seed=2, source="human")
    make_shapes_dataset(root / "synth", 6, seed=3, colours=SIM_COLOURS, noise=140)
    return {"real": root / "real", "test": root / "test", "synth": root / "synth"}


def arguments(inputs: dict[str, Path], out: Path, seeds: int, test: Path | None = None) -> list:
    return [
        "experiment", "-o", out, "--real", inputs["real"], "--test", test or inputs["test"], "--synthetic", f"sim={inputs['synth']}",
        "--arms", ",".join(ARMS), "--synthetic-share", "0.5", "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn",
        "--steps", STEPS, "--seeds", seeds, "--image-size", 64, "--batch-size", 2, "--lr", 0.02, "--device", "cpu",
    ]  # fmt: skip


def finished(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.glob(f"runs/*/seed-*/{RUN}"))


@pytest.fixture(scope="module")
def grown(inputs, tmp_path_factory):
    """One seed, then the same command with two: (folder, outputs, run files' (inode, mtime) before the second)."""
    out = tmp_path_factory.mktemp("experiment") / "exp"
    first = invoke(*arguments(inputs, out, 1), "--workers", 1, "--threads", 1)
    assert first.exit_code == 0, first.output
    stamps = {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in finished(out)}
    second = invoke(*arguments(inputs, out, 2), "--workers", 1, "--threads", 1)
    assert second.exit_code == 0, second.output
    return out, first.output, second.output, stamps


def test_more_seeds_train_only_the_new_runs(grown):
    out, first, second, stamps = grown
    assert first.splitlines()[:4] == [f"trained: {arm} seed 0" for arm in ARMS] + [f"{out}: 3 runs trained, 0 kept"]
    assert second.splitlines()[:4] == [f"trained: {arm} seed 1" for arm in ARMS] + [f"{out}: 3 runs trained, 3 kept"]
    assert list(stamps) == sorted(f"runs/{arm}/seed-0/{RUN}" for arm in ARMS)
    assert {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in stamps} == stamps
    assert finished(out) == sorted(f"runs/{arm}/seed-{seed}/{RUN}" for arm in ARMS for seed in (0, 1))
    verdict_lines = second.splitlines()[4:]
    assert len(verdict_lines) == 4 and all(re.fullmatch(r"(real\+sim|sim): (square|disk): AP [-+]\d\.\d{3} \[.*\] vs real: .+", line) for line in verdict_lines)


def test_results_hold_every_arm_class_interval_and_verdict(grown, inputs):
    out = grown[0]
    results = json.loads((out / "results.json").read_text())
    assert_experiment_results(results, ARMS, CLASSES)
    setup = results["setup"]
    assert (setup["real"], setup["test"], setup["synthetic"]) == (str(inputs["real"]), str(inputs["test"]), {"sim": str(inputs["synth"])})
    assert (setup["arms"], setup["seeds"], setup["steps"], setup["arch"]) == (ARMS, [0, 1], STEPS, "fasterrcnn_mobilenet_v3_large_320_fpn")
    assert (setup["image_size"], setup["batch_size"], setup["lr"], setup["device"], setup["synthetic_share"]) == (64, 2, 0.02, "cpu", 0.5)
    assert setup["classes"] == setup["measured_classes"] == CLASSES and setup["test_images"] == 5
    assert setup["arm_images"] == {"real": {"images": 6, "synthetic_images": 0}, "real+sim": {"images": 12, "synthetic_images": 6},
                                   "sim": {"images": 6, "synthetic_images": 6}}  # fmt: skip
    assert setup["bootstrap"] == {"draws": 1000, "seed": 0} and setup["level"] == 0.95
    for arm in ARMS:
        run = json.loads((out / f"runs/{arm}/seed-1/{RUN}").read_text())
        assert (run["arm"], run["seed"], run["steps"], len(run["losses"])) == (arm, 1, STEPS, STEPS)
        assert run["images"] == setup["arm_images"][arm]["images"]
        assert all(0 <= p["image"] < 5 and p["class"] in CLASSES and len(p["bbox"]) == 4 for p in run["predictions"])


def test_report_has_the_per_class_table_and_charts(grown):
    out = grown[0]
    page = (out / "report.html").read_text()
    ap_rows = re.findall(r"<tr><td>([^<]+)</td>((?:<td>[^<]*</td>){3})</tr>", page.split('<table id="ap">')[1].split("</table>")[0])
    assert [name for name, _ in ap_rows] == [*CLASSES, "all"]
    assert all(re.fullmatch(r"(<td>\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]</td>){3}", cells) for _, cells in ap_rows)
    delta_rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td></tr>", page.split('<table id="deltas">')[1])
    assert [(arm, name) for arm, name, _ in delta_rows] == [(arm, name) for arm in ARMS[1:] for name in CLASSES]
    assert re.findall(r'<img src="([^"]+)"', page) == [f"report_files/{n}.png" for n in ("ap", "deltas", "curves", "disagreement")]
    if CHROMIUM is None:
        pytest.skip("needs a headless Chromium (apt-get install chromium) to open the page")
    loaded, images, dom = open_in_chromium(out / "report.html")
    rows = dom.split('<table id="ap">')[1].split("</table>")[0].count("<tr>")
    assert (loaded, images, rows) == (4, 4, 4)  # every chart loaded; header + 2 classes + all


def test_killed_experiment_resumes_to_the_same_results(grown, inputs, tmp_path):
    out = tmp_path / "exp"
    kill_run_after([*arguments(inputs, out, 2), "--workers", 2, "--threads", 1], out, 1, count=lambda out: len(finished(out)))
    done = finished(out)
    assert 1 <= len(done) < 6
    assert not (out / "results.json").exists()
    resumed = invoke(*arguments(inputs, out, 2), "--workers", 1, "--threads", 1)
    assert resumed.exit_code == 0, resumed.output
    assert f"{out}: {6 - len(done)} runs trained, {len(done)} kept" in resumed.output
    assert (out / "results.json").read_text() == (grown[0] / "results.json").read_text()


def test_changed_setup_in_the_same_folder_is_refused(grown, inputs):
    out = grown[0]
    run = invoke(*[a if a != STEPS else STEPS + 1 for a in arguments(inputs, out, 2)])
    assert run.exit_code == 1
    assert run.output == f"error: {out}/experiment.json: steps: expected the setup of the runs already there, 3 (got 4); use another -o\n"


def test_contaminated_test_sets_are_refused(inputs, tmp_path):
    rendered = tmp_path / "rendered_test"
    make_shapes_dataset(rendered, 2, seed=9)  # provenance: render
    run = invoke(*arguments(inputs, tmp_path / "a", 1, test=rendered))
    assert run.exit_code == 1
    assert run.output == f"error: {rendered}: images[0].provenance.source: expected a real image in --test (got 'render')\n"
    leaked = tmp_path / "leaked_test"
    make_shapes_dataset(leaked, 3, seed=8, source="human")
    shutil.copyfile(inputs["synth"] / "images/000004.png", leaked / "images/000002.png")  # a synthetic training image
    run = invoke(*arguments(inputs, tmp_path / "b", 1, test=leaked))
    assert run.exit_code == 1
    assert run.output == (
        f"error: {leaked}: images[2].file_name: expected an image no training set holds "
        f"(got 'images/000002.png', the same pixels as {inputs['synth']}: images/000004.png)\n"
    )
    empty = tmp_path / "empty_test"
    make_shapes_dataset(empty, 2, seed=7, source="human")
    labels = json.loads((empty / "annotations.json").read_text())
    (empty / "annotations.json").write_text(json.dumps({**labels, "annotations": []}))  # images nobody labelled
    run = invoke(*arguments(inputs, tmp_path / "c", 1, test=empty))
    assert (run.exit_code, run.output) == (1, f"error: {empty}: annotations: expected labelled instances to measure AP on (got none)\n")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--arms": "sim,real+sim"}, "--arms: expected 'real' among the arms, deltas are against it (got sim,real+sim)"),
        ({"--arms": "real,real+blender"}, "--arms: expected real, real+NAME or NAME with NAME a --synthetic set (sim) (got 'real+blender')"),
        ({"--synthetic-share": "1.5"}, "--synthetic-share: expected a number in [0, 1] (got 1.5)"),
        ({"--steps": "0"}, "--steps: expected a whole number >= 1 (got 0)"),
        ({"--lr": "nan"}, "--lr: expected a finite number > 0 (got nan)"),
        ({"--batch-size": "0"}, "--batch-size: expected a whole number >= 1 (got 0)"),
        ({"--synthetic": "real=x"}, "--synthetic: expected NAME=DIR with NAME of letters, digits, _ or - and not 'real' (got 'real=x')"),
    ],
)
def test_bad_options_fail_in_one_line(inputs, tmp_path, change, message):
    args = [str(a) for a in arguments(inputs, tmp_path / "x", 1)]
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    run = invoke(*args)
    assert (run.exit_code, run.output) == (1, f"error: {message}\n")
    assert not (tmp_path / "x").exists()


RECIPE = {  # the base recipe of the plan: the experiment's classes as primitives
    "version": 1, "name": "shapes", "seed": 1, "count": 10, "image": {"width": 64, "height": 48},
    "classes": [{"name": "square", "primitive": "cube", "count": [1, 2]}, {"name": "disk", "primitive": "cylinder", "count": 1}],
}  # fmt: skip


def test_plan_from_the_experiment_follows_its_verdicts(grown, inputs, tmp_path):
    out = grown[0]
    (tmp_path / "shapes.yaml").write_text(json.dumps(RECIPE))  # JSON is YAML
    run = invoke("plan", inputs["real"], "--from-experiment", out, "--recipe", tmp_path / "shapes.yaml", "-o", tmp_path / "next.yaml")
    assert run.exit_code == 0, run.output
    deltas = json.loads((out / "results.json").read_text())["deltas"]
    expected = []
    for name in sorted(CLASSES):
        verdicts = {per_class[name]["verdict"] for per_class in deltas.values()}
        expected.append("helped" if "helps" in verdicts else "hurt" if "hurts" in verdicts else "no evidence")
    lines = run.output.splitlines()
    assert [("helped" if " helped " in line else "hurt" if " hurt " in line else "no evidence") for line in lines[:2]] == expected
    assert [line.split(":")[0] for line in lines[:2]] == sorted(CLASSES)
    if "helped" in expected:
        assert load_recipe(tmp_path / "next.yaml").name == "shapes_plan"
    else:
        assert lines[2] == "nothing to render; no recipe written" and not (tmp_path / "next.yaml").exists()
