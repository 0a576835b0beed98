"""The folder walk's limits, in process (a folder of 100,000 entries is too slow to build per test run)."""

from __future__ import annotations

import os

import pytest

from synthgen import fileio
from synthgen.errors import InputError


def test_folder_walk_stops_at_its_entry_limit(tmp_path, monkeypatch):
    for name in ("a.obj", "b.obj", "c.txt", "d.obj", "e.obj"):
        (tmp_path / name).write_text("v 0 0 0\n")
    assert [p.name for p in fileio.list_files(tmp_path, (".obj",))] == ["a.obj", "b.obj", "d.obj", "e.obj"]
    monkeypatch.setattr(fileio, "MAX_FOLDER_ENTRIES", 4)
    with pytest.raises(InputError, match=f"^{tmp_path}: more than 4 entries; point at a smaller folder$"):
        fileio.list_files(tmp_path, (".obj",))


def test_folder_walk_skips_special_files_and_links_to_folders(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "far.obj").write_text("v 0 0 0\n")
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "near.obj").write_text("v 0 0 0\n")
    (tmp_path / "in" / ".hidden.obj").write_text("v 0 0 0\n")
    os.symlink(tmp_path / "outside", tmp_path / "in" / "linked")
    os.symlink(tmp_path / "outside" / "far.obj", tmp_path / "in" / "file-link.obj")
    os.mkfifo(tmp_path / "in" / "pipe.obj")
    found = [p.relative_to(tmp_path / "in").as_posix() for p in fileio.list_files(tmp_path / "in", (".obj",))]
    assert found == [".hidden.obj", "file-link.obj", "sub/near.obj"]
    found = [p.relative_to(tmp_path / "in").as_posix() for p in fileio.list_files(tmp_path / "in", (".obj",), hidden=False)]
    assert found == ["file-link.obj", "sub/near.obj"]
