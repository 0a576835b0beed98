"""The mixing commands through typer: flags as the issue spells them, one-line errors, no partial output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from executor_helpers import synthgen
from mixing_helpers import REAL_COCO, render_provenance, tree_bytes, write_dataset
from typer.testing import CliRunner

from synthgen.cli import app as synthgen_app
from synthgen.formats.folder import load_dataset
from synthgen.labels import Provenance
from synthgen.recipe import load_recipe


@pytest.fixture
def cli():
    app = synthgen_app
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    real = write_dataset(tmp_path / "real", ["forklift", "pallet"], [["pallet"]] * 8 + [["forklift", "pallet"]] * 2, Provenance(source="human"), seed=1)
    synth = write_dataset(tmp_path / "synth", ["pallet", "forklift"], [["forklift"]] * 12, render_provenance("f"), seed=2)
    return real, synth


def test_mix_command(cli, inputs, tmp_path):
    real, synth = inputs
    out = tmp_path / "train_set"
    result = cli("mix", real, synth, "-o", out, "--min-per-class", 6, "--max-synthetic-share", 0.5,
                 "--val-fraction", 0.2, "--seed", 0, "--format", "coco,yolo")
    assert result.exit_code == 0, result.output
    assert f"{out / 'train'}: 13 images (5 synthetic)" in result.output
    assert f"{out / 'val'}: 2 images (0 synthetic)" in result.output
    assert len(load_dataset(out / "train").samples) == 13
    data = yaml.safe_load((out / "train/yolo/data.yaml").read_text())
    assert data["names"] == {0: "forklift", 1: "pallet"}
    assert len(list((out / "train/yolo/labels").iterdir())) == 13


@pytest.mark.parametrize(
    "args, message",
    [
        (["--map", "crate=box"], "error: --map: unknown class 'crate'; known: forklift, pallet"),
        (["--map", "crate"], "error: --map: expected 'old=new', got 'crate'"),
        (["--classes", "pallet,crate"], "error: --classes: unknown class 'crate'; known: forklift, pallet"),
        (["--format", "coco,tfrecord"], "error: --format: unknown format 'tfrecord'; known: coco, yolo, yolo-seg, voc"),
        (["--link", "teleport"], "error: --link: must be one of copy, hardlink, symlink, got 'teleport'"),
    ],
)
def test_mix_errors_are_one_line_and_leave_nothing(cli, inputs, tmp_path, args, message):
    real, synth = inputs
    result = cli("mix", real, synth, "-o", tmp_path / "out", *args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == message
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_mix_malformed_label_file(cli, inputs, tmp_path):
    real, _ = inputs
    (real / "annotations.json").write_text('{"images": [], "categories": [], "annotations": [')
    result = cli("mix", real, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {real / 'annotations.json'}: not valid JSON")
    assert len(result.output.strip().splitlines()) == 1


def test_plan_command(cli, inputs, tmp_path):
    real, _ = inputs
    recipe = tmp_path / "base.yaml"
    recipe.write_text("version: 1\nname: w\ncount: 5\nclasses:\n  - {name: forklift, primitive: cube, count: 2}\n"
                      "  - {name: pallet, primitive: cylinder, count: 1}\n")
    out = tmp_path / "plan.yaml"
    result = cli("plan", real, "--min-per-class", 20, "--recipe", recipe, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "forklift: 2 instances, plan 18 more at 1.7 per image",
        "pallet: 10 instances, plan 10 more at 1 per image",
        f"{out}: 12 images",
    ]
    assert load_recipe(out).count == 12


def test_report_and_preview_commands(cli, inputs, tmp_path):
    real, synth = inputs
    result = cli("report", real, synth, "-o", tmp_path / "r/report.html")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{tmp_path / 'r/report.html'}: 6 images"
    result = cli("preview", real, "-o", tmp_path / "sheet.png", "--count", 5)
    assert result.exit_code == 0 and (tmp_path / "sheet.png").stat().st_size > 1000


def boxes_and_names(folder: Path):
    dataset = load_dataset(folder)
    return dataset.class_names, [[(i.category, i.box) for i in s.instances] for s in dataset.samples]


def test_convert_round_trips_through_voc_and_yolo(cli, inputs, tmp_path):
    real, _ = inputs
    result = cli("convert", real, "--from", "synthgen", "-o", tmp_path / "a", "--format", "coco,yolo,voc")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{tmp_path / 'a'}: 10 images, 12 instances",
        f"{tmp_path / 'a' / 'yolo' / 'data.yaml'}: no validation split: val is the training images",
    ]
    assert cli("convert", tmp_path / "a/voc", "--from", "voc", "-o", tmp_path / "from_voc").exit_code == 0
    assert boxes_and_names(tmp_path / "from_voc") == boxes_and_names(tmp_path / "a")
    assert cli("convert", tmp_path / "a/yolo", "--from", "yolo", "-o", tmp_path / "from_yolo").exit_code == 0
    names, boxes = boxes_and_names(tmp_path / "from_yolo")
    assert names == ["forklift", "pallet"]
    assert [[c for c, _ in s] for s in boxes] == [[c for c, _ in s] for s in boxes_and_names(tmp_path / "a")[1]]
    assert cli("convert", tmp_path / "a", "-o", tmp_path / "again").exit_code == 0
    again, first = tree_bytes(tmp_path / "again"), tree_bytes(tmp_path / "a")
    assert again == {k: v for k, v in first.items() if not k.startswith(("yolo", "voc")) and k != "annotations.json"} | {
        "annotations.json": again["annotations.json"]}
    assert boxes_and_names(tmp_path / "again") == boxes_and_names(tmp_path / "a")


def test_convert_real_coco_keeps_masks_and_reports_bad_input(cli, tmp_path):
    result = cli("convert", REAL_COCO, "--from", "coco", "-o", tmp_path / "coco")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "coco/annotations.json").read_text())
    assert len(data["images"]) == 4 and len(data["annotations"]) == 14
    assert all(isinstance(a["segmentation"]["counts"], str) for a in data["annotations"])
    result = cli("convert", tmp_path / "coco", "--from", "voc", "-o", tmp_path / "bad")
    assert result.exit_code == 1 and "no VOC .xml files" in result.output and not (tmp_path / "bad").exists()


def test_mix_into_a_pipe_prints_no_progress_bars(inputs, tmp_path):
    """Bars are for terminals: through a pipe (a log, CI) stderr stays empty and stdout holds the summary only."""
    real, synth = inputs
    done = synthgen("mix", str(real), str(synth), "-o", str(tmp_path / "piped"), "--min-per-class", "6", "--seed", "0")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert not any(word in done.stdout for word in ("hashing images", "writing ", "━")), done.stdout
