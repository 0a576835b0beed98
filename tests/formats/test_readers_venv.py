"""FiftyOne and Datumaro read what synthgen writes: FiftyOne the dataset folder (COCO) and its YOLO
exports as written, Datumaro the `synthgen export --to datumaro` folder.

Both pin many packages of their own, so each lives in its own environment (`.ci/run` makes them):
set SYNTHGEN_FIFTYONE_PYTHON and SYNTHGEN_DATUMARO_PYTHON to that environment's `python`. The
reader runs there (tests/formats/venv_readers.py, its own importer classes; FiftyOne's need no
database) and prints what it read; the test compares it with annotations.json.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from reader_helpers import assert_boxes, expected_objects, moved_copy, write_mix
from typer.testing import CliRunner

from synthgen.cli import app

FIFTYONE = os.environ.get("SYNTHGEN_FIFTYONE_PYTHON")
DATUMARO = os.environ.get("SYNTHGEN_DATUMARO_PYTHON")
SCRIPT = Path(__file__).with_name("venv_readers.py")
needs_fiftyone = pytest.mark.skipif(FIFTYONE is None, reason="FiftyOne's environment is not set up (see SYNTHGEN_FIFTYONE_PYTHON)")
needs_datumaro = pytest.mark.skipif(DATUMARO is None, reason="Datumaro's environment is not set up (see SYNTHGEN_DATUMARO_PYTHON)")


def read_with(python: str, home: Path, *jobs: list) -> list[dict[str, list[list]]]:
    """For each job (a reader and its arguments), {file: objects} as the reader in `python`'s
    environment read them, all in one process (its HOME kept in tmp)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "FIFTYONE_DO_NOT_TRACK": "true",
           "FIFTYONE_DATABASE_DIR": str(home / "fiftyone-db")}
    jobs_text = json.dumps([[str(part) for part in job] for job in jobs])
    done = subprocess.run([python, str(SCRIPT), jobs_text], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) == len(jobs)
    assert all((e["width"], e["height"]) == (64, 48) for entries in results for e in entries)
    return [{e["file"]: e["objects"] for e in entries} for entries in results]


@needs_fiftyone
def test_fiftyone_reads_the_coco_folder_and_yolo_exports_as_written(rendered_dataset, tmp_path):
    moved = moved_copy(rendered_dataset, tmp_path / "moved")  # YOLO folders: after a move
    coco, yolo, yolo_seg = read_with(
        FIFTYONE, tmp_path, ["fiftyone-coco", rendered_dataset, rendered_dataset / "annotations.json"],
        ["fiftyone-yolo", moved / "yolo", "detect"], ["fiftyone-yolo", moved / "yolo-seg", "segment"],
    )
    expected = expected_objects(rendered_dataset)
    assert_boxes(coco, expected, tolerance=1e-9)
    assert {name: [o[5] for o in objects] for name, objects in coco.items()} == {n: [o[5] for o in objs] for n, objs in expected.items()}
    assert_boxes(yolo, expected, tolerance=1e-3)
    assert_boxes(yolo_seg, expected, tolerance=1e-3, polygon=True)


@needs_datumaro
def test_datumaro_reads_the_export(rendered_dataset, tmp_path):
    out = tmp_path / "dm"
    assert CliRunner().invoke(app, ["export", str(rendered_dataset), "--to", "datumaro", "-o", str(out)]).exit_code == 0
    (read,) = read_with(DATUMARO, tmp_path, ["datumaro-coco", out])
    expected = {f"train/{Path(name).stem}": objects for name, objects in expected_objects(rendered_dataset).items()}
    assert read == expected  # boxes, classes and mask pixel counts, exactly


@needs_datumaro
def test_datumaro_reads_a_mix_export_by_split(tmp_path):
    mixed, _ = write_mix(tmp_path, "--val-fraction", "0.2", "--test-fraction", "0.2")
    out = tmp_path / "dm"
    assert CliRunner().invoke(app, ["export", str(mixed), "--to", "datumaro", "-o", str(out)]).exit_code == 0
    (read,) = read_with(DATUMARO, tmp_path, ["datumaro-coco", out])
    expected = {f"{split}/{Path(name).stem}": objects for split in ("train", "val", "test")
                for name, objects in expected_objects(mixed / split).items()}
    assert read == expected
