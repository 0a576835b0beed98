"""Hostile output folders (issue 11, classes 5 and 7): one row per case, each run as the real
`synthgen render` command under a memory cap. A row says what the folder holds before the run, the
exit code, the words of the one error line, and which files must come out byte for byte unchanged
(the user's, inside the output or beside it); no row may write outside its own folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from recipes import write_recipe

from synthgen.formats.check import check_dataset
from synthgen.recipe import load_recipe
from synthgen.render.run import render_dataset

pytestmark = pytest.mark.slow
MEMORY_GB = 3


def files(snapshot: dict[str, str]) -> dict[str, str]:
    """A snapshot's files and links (folders left out)."""
    return {name: kind for name, kind in snapshot.items() if kind != "dir"}


def can_mount() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-Urm", "true"], capture_output=True, check=False).returncode == 0


def write(path: Path, data: bytes | str = b"mine") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def rendered(tmp: Path, seed: int = 3, count: int = 1) -> None:
    """A finished synthgen run in tmp/out (rendered in this process: Blender loads once per session)."""
    result = render_dataset(load_recipe(write_recipe(tmp, name="first.yaml", seed=seed, count=count)), tmp / "out")
    assert result.complete, result.failures


def own_images_and_annotations(tmp: Path) -> list[str]:
    write(tmp / "out" / "images" / "photo.png", b"\x89PNG mine")
    write(tmp / "out" / "annotations.json", '{"images": []}')
    return ["out/images/photo.png", "out/annotations.json"]


def own_yolo(tmp: Path) -> list[str]:
    write(tmp / "out" / "notes.txt")
    write(tmp / "out" / "yolo" / "data.yaml", "names: [mine]\n")
    return ["out/notes.txt", "out/yolo/data.yaml"]


def notes_only(tmp: Path) -> list[str]:
    write(tmp / "out" / "notes.txt")
    return ["out/notes.txt"]


def marker_escaping(tmp: Path) -> list[str]:
    write(tmp / "victim" / "keep.txt")
    write(tmp / "out" / ".synthgen" / "lock.json", json.dumps({"recipe_name": "x", "recipe_hash": "0", "seed": 1}))
    write(tmp / "out" / ".synthgen" / "owned.json", json.dumps({"entries": ["../victim"], "images": 1}))
    return []


def marker_unhashable(tmp: Path) -> list[str]:
    write(tmp / "out" / ".synthgen" / "lock.json", json.dumps({"recipe_name": "x", "recipe_hash": "0", "seed": 1}))
    write(tmp / "out" / ".synthgen" / "owned.json", json.dumps({"entries": [["images"]], "images": 1e308}))
    return []


def lock_is_fifo(tmp: Path) -> list[str]:
    (tmp / "out" / ".synthgen").mkdir(parents=True)
    os.mkfifo(tmp / "out" / ".synthgen" / "lock.json")
    return []


def lock_huge(tmp: Path) -> list[str]:
    write(tmp / "out" / ".synthgen" / "lock.json", b"[" * (2 << 20))
    return []


def run_lock_linked_outside(tmp: Path) -> list[str]:
    write(tmp / "victim" / "keep.txt")
    (tmp / "out" / ".synthgen").mkdir(parents=True)
    (tmp / "out" / ".synthgen" / "run.lock").symlink_to(tmp / "victim" / "keep.txt")
    return []


def lock_not_json(tmp: Path) -> list[str]:
    write(tmp / "out" / ".synthgen" / "lock.json", b"\x00\xff\xfe not json")
    return []


def state_linked_outside(tmp: Path) -> list[str]:
    (tmp / "elsewhere").mkdir()
    write(tmp / "elsewhere" / "keep.txt")
    (tmp / "out").mkdir()
    (tmp / "out" / ".synthgen").symlink_to(tmp / "elsewhere")
    return []


def records_linked_outside(tmp: Path) -> list[str]:
    (tmp / "elsewhere").mkdir()
    (tmp / "out" / ".synthgen").mkdir(parents=True)
    (tmp / "out" / ".synthgen" / "samples").symlink_to(tmp / "elsewhere")
    return []


def images_linked_outside(tmp: Path) -> list[str]:
    rendered(tmp)
    write(tmp / "photos" / "000000.png", b"\x89PNG a user's photo")
    shutil.rmtree(tmp / "out" / "images")
    (tmp / "out" / "images").symlink_to(tmp / "photos")
    return ["out/images"]


def files_linked_outside(tmp: Path) -> list[str]:
    """A finished run whose image and YOLO label files were replaced by links to a user's files."""
    rendered(tmp)
    for name, link in (("photo.png", "images/000000.png"), ("labels.txt", "yolo/labels/000000.txt")):
        write(tmp / "victim" / name, b"the user's " + name.encode())
        (tmp / "out" / link).unlink()
        (tmp / "out" / link).symlink_to(tmp / "victim" / name)
    return []


def other_recipe_with_user_files(tmp: Path) -> list[str]:
    rendered(tmp)
    write(tmp / "out" / "notes.txt")
    write(tmp / "out" / "images" / "mine.png", b"\x89PNG mine")
    write(tmp / "out" / "images" / "1234567.png", b"\x89PNG not an index synthgen used")
    write(tmp / "out" / "semantic" / "readme.txt")
    return ["out/notes.txt", "out/images/mine.png", "out/images/1234567.png", "out/semantic/readme.txt"]


def out_is_file(tmp: Path) -> list[str]:
    write(tmp / "out", "a file")
    return ["out"]


def parent_is_file(tmp: Path) -> list[str]:
    write(tmp / "afile", "a file")
    return []


def nothing(tmp: Path) -> list[str]:
    (tmp / "disk").mkdir()
    return []


@dataclass(frozen=True)
class Row:
    id: str
    setup: Callable[[Path], list[str]]  # makes the folder; returns the user's files in it (paths under tmp)
    flags: tuple[str, ...]
    exit: int
    words: tuple[str, ...]
    out: str = "out"
    mount: tuple[str, str] | None = None  # (tmpfs options, folder under tmp)
    klass: int = 5  # the class of issue 11 the row belongs to (in the test id)


ROWS = [
    Row("overwrite-own-images", own_images_and_annotations, ("--overwrite",), 1, ("out/annotations.json: not written by synthgen",)),
    Row("overwrite-own-yolo", own_yolo, ("--overwrite",), 1, ("out/yolo: not written by synthgen",)),
    Row("stranger-folder", notes_only, (), 1, ("holds files that are not a synthgen run; choose another folder or pass --overwrite",)),
    Row("marker-names-outside", marker_escaping, ("--overwrite",), 1, ("owned.json: not a synthgen marker",)),
    Row("marker-unhashable", marker_unhashable, ("--overwrite",), 1, ("owned.json: not a synthgen marker",)),
    Row("lock-is-fifo", lock_is_fifo, ("--overwrite",), 1, ("lock.json: not a synthgen state file (not a regular file)",)),
    Row("lock-huge", lock_huge, ("--overwrite",), 1, ("lock.json: not a synthgen state file (over 1 MiB)",)),
    Row("run-lock-is-link", run_lock_linked_outside, (), 1, ("run.lock: Too many levels of symbolic links",)),
    Row("lock-not-json", lock_not_json, ("--overwrite",), 1, ("lock.json: not a synthgen state file (not JSON)",)),
    Row("state-is-link", state_linked_outside, (), 1, ("out/.synthgen: is a link",)),
    Row("records-are-link", records_linked_outside, (), 1, ("out/.synthgen/samples: is a link",)),
    Row("images-linked-outside", images_linked_outside, ("--overwrite", "--seed", "99"), 1, ("out/images: is a link",)),
    Row("files-linked-outside", files_linked_outside, ("--overwrite", "--seed", "99"), 0, ()),
    Row("overwrite-keeps-user-files", other_recipe_with_user_files, ("--overwrite", "--seed", "99"), 0, ()),
    Row("out-is-a-file", out_is_file, (), 1, ("out: exists and is not a folder",), klass=7),
    Row("out-under-a-file", parent_is_file, (), 1, ("afile/sub/out: afile is a file, not a folder",), out="afile/sub/out", klass=7),
    Row("disk-full", nothing, (), 1, ("disk/out/", ": No space left on device"), out="disk/out", mount=("size=40k", "disk"), klass=7),
    Row("disk-full-two-workers", nothing, ("--workers", "2"), 1, ("disk/out/", ": No space left on device"), out="disk/out",
        mount=("size=40k", "disk"), klass=7),
    Row("read-only", nothing, (), 1, ("disk/out: Read-only file system",), out="disk/out", mount=("ro", "disk"), klass=7),
    Row("read-only-deeper", nothing, (), 1, ("disk/a: Read-only file system",), out="disk/a/b/out", mount=("ro", "disk"), klass=7),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"class{row.klass}-{row.id}")
def test_hostile_output_folder(row: Row, tmp_path: Path, run_synthgen, snapshot):
    if row.mount and not can_mount():
        pytest.skip("needs unshare -Urm to mount a small tmpfs")
    users = row.setup(tmp_path)
    recipe = write_recipe(tmp_path, count=3 if row.mount else 1)
    out = tmp_path / row.out
    user = {name: data for name, data in files(snapshot(tmp_path)).items()
            if not name.startswith(row.out + "/") or any(name == u or name.startswith(u + "/") for u in users)}
    code, _, stderr = run_synthgen(["render", str(recipe), "-o", row.out, "-q", *row.flags], tmp_path,
                                   timeout=180, memory_gb=MEMORY_GB, mount=row.mount)  # fmt: skip
    assert code == row.exit, stderr
    if row.exit:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
        assert all(word in lines[0] for word in row.words), lines[0]
    after = files(snapshot(tmp_path))
    assert {name: after.get(name) for name in user} == user  # inputs unchanged, the user's files kept
    outside = {name for name in after if not name.startswith(row.out + "/") and name != row.out}
    assert outside == {name for name in user if not name.startswith(row.out + "/") and name != row.out}, "a file written outside the output"
    if row.exit == 0:
        assert check_dataset(out).ok


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=lambda mask: f"umask-{mask:03o}")
def test_every_file_and_folder_gets_what_the_umask_allows(umask: int, tmp_path: Path, run_synthgen):
    """`render` (every export, depth, normals, run state); under 002 (not the usual umask) also
    `convert` and `report` of its output."""
    recipe = write_recipe(tmp_path, count=1, output={"formats": ["coco", "yolo", "yolo-seg", "voc"], "depth": "npy", "normals": True})
    commands = [["render", str(recipe), "-o", "out", "-q"]]
    if umask == 0o002:
        commands += [["convert", "out", "-o", "converted", "--format", "yolo,voc"], ["report", "out", "-o", "report/index.html"]]
    for command in commands:
        code, _, stderr = run_synthgen(command, tmp_path, timeout=180, memory_gb=MEMORY_GB, umask=umask)
        assert code == 0, stderr
    modes = {}
    for path in tmp_path.rglob("*"):
        if not path.is_symlink() and path.name != "tiny.yaml":
            modes[str(path.relative_to(tmp_path))] = path.stat().st_mode & 0o777
    expected_dir, expected_file = 0o777 & ~umask, 0o666 & ~umask
    assert {name: mode for name, mode in modes.items() if mode != (expected_dir if (tmp_path / name).is_dir() else expected_file)} == {}
    assert {"out", "out/depth/000000.npy", "out/normals/000000.png", "out/voc/Annotations/000000.xml", "out/.synthgen/run.lock"} <= set(modes)
    if umask == 0o002:
        assert {"converted/images/000000.png", "converted/voc", "report/index.html"} <= set(modes)
