"""Every shell block a user is told to run (```bash in README.md and docs/*.md) runs as written.

The blocks of each document run in order, one command at a time, in one temporary copy of the
repository's scenes/, assets/, configs/ and tests/data/ shared by all documents (so one render
serves every command that reads it: a second `render` of the same recipe into the same folder is a
resume with nothing to do). Numbers are made small: `--count` 2, `--epochs` 1, `--image-size` 64,
and the copied recipes render at 64x48 with at most 4 samples. `synthgen` is this checkout's CLI.
A block that cannot run here (it installs, or needs a cluster, weights or a download) starts with
`# not run in tests: REASON`; that list is checked too, so a block is never skipped silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"\A# not run in tests: (.+)")
SMALL = [(r"--count \d+", "--count 2"), (r"--epochs \d+", "--epochs 1"), (r"--image-size \d+", "--image-size 64")]


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block in a Markdown file."""
    return [(match[1], match[2]) for match in FENCE.finditer(path.read_text())]


def commands(text: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comment-only and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def small(command: str) -> str:
    for pattern, replacement in SMALL:
        command = re.sub(pattern, replacement, command)
    return command


def runnable(path: Path) -> list[str]:
    return [command for language, text in blocks(path) if language == "bash" and not NOT_RUN.match(text) for command in commands(text)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder holding copies of what the docs name, small recipes, and `synthgen` on PATH."""
    root = tmp_path_factory.mktemp("docs")
    for name in ("scenes", "assets", "configs", "tests/data"):
        shutil.copytree(REPO / name, root / name)
    for recipe in (root / "scenes").glob("*.yaml"):
        data = yaml.safe_load(recipe.read_text())
        data["image"] = {"width": 64, "height": 48}
        data["render"] = {**data.get("render", {}), "samples": min(4, data.get("render", {}).get("samples", 16))}
        recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "bin").mkdir()
    (root / "bin/synthgen").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m synthgen.cli "$@"\n')
    (root / "bin/synthgen").chmod(0o755)
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "COLUMNS": "80"}
    return root, env


def test_every_block_with_a_synthgen_command_is_a_bash_block():
    elsewhere = [
        (path.name, text.splitlines()[0])
        for path in DOCS
        for language, text in blocks(path)
        if language != "bash" and any(line.lstrip().startswith("synthgen ") for line in text.splitlines())
    ]
    assert elsewhere == []


def test_the_blocks_not_run_say_why():
    skipped = [(path.name, NOT_RUN.match(text)[1]) for path in DOCS for language, text in blocks(path) if language == "bash" and NOT_RUN.match(text)]
    assert skipped == [
        ("README.md", "installs (the blocks below are run by tests/test_docs.py)"),
        ("README.md", "installs system packages"),
        ("diffusion.md", "downloads Stable Diffusion and ControlNet weights from the Hugging Face hub"),
        ("distributed.md", "needs a Ray cluster (and installs)"),
        ("real_data.md", "needs weights (maskrcnn.pth, yolo11n-seg.onnx) or hub downloads (owlv2, grounding-dino, sam)"),
        ("real_data.md", "downloads SAM and SAM 2 weights from the Hugging Face hub"),
        ("real_data.md", "trains 4 arms x 3 seeds for 2000 steps (tests/real/test_experiment.py runs one small)"),
    ]


def test_renders_in_the_docs_give_a_count():
    """So the test can keep them small (and a reader sees how to)."""
    assert [c for path in DOCS for c in runnable(path) if c.startswith("synthgen render") and "--count" not in c] == []


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if runnable(d)], ids=lambda d: d.name)
def test_documented_commands_run_as_written(doc, workspace):
    root, env = workspace
    for command in runnable(doc):
        run = subprocess.run(["bash", "-c", small(command)], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{doc.name}: {command}\n{run.stdout[-1500:]}\n{run.stderr[-3000:]}"


def snippets_recipe(**fields):
    """docs/scenes.md's recipe snippets joined into one recipe (paths as if the file were in scenes/)."""
    from synthgen.recipe import parse_recipe

    data = {"version": 1, "name": "snippets", "count": 2, **fields}
    for language, text in blocks(REPO / "docs" / "scenes.md"):
        if language == "yaml":
            data.update(yaml.safe_load(text))
    assert sorted(data) == sorted({"augment", "classes", "count", "labels", "name", "output", "render", "scene", "version", *fields})
    return parse_recipe(data, REPO / "scenes" / "snippets.yaml")


def test_the_scenes_md_snippets_make_a_valid_recipe_with_usable_sizes_and_colours():
    """Joined, docs/scenes.md's recipe snippets load; the mug gets enough pixels and keeps its hue."""
    from synthgen.recipe.augmentation import build_pipeline

    recipe = snippets_recipe()
    mug, camera = recipe.classes[0], recipe.scene.camera
    widest = mug.size * mug.scale.bounds[0] * camera.focal_length.bounds[0] / (36 * camera.distance.bounds[1])
    assert widest * recipe.image.width >= 24  # pixels across the smallest, farthest mug at the widest lens
    jitter = build_pipeline(recipe.augment, seed=0).transforms[0]
    assert type(jitter).__name__ == "ColorJitter" and max(abs(h) for h in jitter.hue) <= 0.05


def test_recipes_in_the_docs_load():
    from synthgen.recipe import parse_recipe

    recipes = [yaml.safe_load(text) for path in DOCS for language, text in blocks(path) if language == "yaml" and text.startswith("version: 1")]
    assert [parse_recipe(data, REPO / "scenes" / "doc.yaml").name for data in recipes] == ["quickstart"]


def test_files_the_docs_name_exist_in_the_repository():
    """Example recipes, configs, scripts and links named in the docs are in a fresh clone (nothing beside it)."""
    named = set()
    for path in DOCS:
        text = path.read_text()
        named |= {(path, m) for m in re.findall(r"\b((?:scenes|configs|benchmarks|scripts|assets)/[\w./-]*\w)", text)}
        named |= {(path, m) for m in re.findall(r"\]\(((?!https?:)[^)#]+)\)", text)}
        assert "../shared" not in text, path.name
    missing = [f"{path.name}: {name}" for path, name in sorted(named) if not ((path.parent / name).exists() or (REPO / name).exists())]
    assert missing == []


@pytest.mark.slow
def test_the_scenes_md_snippets_render_mugs_big_enough_to_learn(tmp_path):
    """A real render of the joined snippets (320x240): every labelled mug spans at least 20 pixels."""
    pytest.importorskip("bpy")
    from synthgen.render.run import render_dataset

    result = render_dataset(snippets_recipe(count=1, render={"samples": 1}), tmp_path / "out")
    assert result.complete, result.failures
    (sample,) = result.dataset.samples
    assert [i.category for i in sample.instances] == ["mug"] * len(sample.instances) and sample.instances
    assert min(max(i.box[2], i.box[3]) for i in sample.instances) >= 20, [i.box for i in sample.instances]
