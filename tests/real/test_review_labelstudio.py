"""The review round trip against a real Label Studio, started on loopback with a temporary data folder.

Label Studio pins many packages of its own, so it lives in its own environment: set
SYNTHGEN_LABEL_STUDIO to its `label-studio` executable (default: the one on PATH).
"""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from helpers import assert_valid_dataset, invoke
from review_helpers import mask_iou, prelabel_masks
from typer.testing import CliRunner

from synthgen.cli import app as synthgen_app
from synthgen.formats.folder import load_dataset

TOKEN = "synthgen-test-token"
EXECUTABLE = os.environ.get("SYNTHGEN_LABEL_STUDIO") or shutil.which("label-studio")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXECUTABLE is None, reason="label-studio is not installed (see SYNTHGEN_LABEL_STUDIO)"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url, method="GET", body=None):
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", f"Token {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A fresh Label Studio with one user whose legacy API token is TOKEN; yields its base URL."""
    data, port = tmp_path_factory.mktemp("label-studio"), free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data),
           "fflag__feature_develop__prompts__dia_1829_jwt_token_auth": "false"}  # accept legacy tokens
    server = subprocess.Popen(
        [EXECUTABLE, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data), "--username", "reviewer@example.com", "--password", "synthgen-pass",
         "--user-token", TOKEN],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                call(f"{url}/api/projects")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("Label Studio did not start")
                time.sleep(2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_label_studio_round_trip(label_studio, coco_person, tmp_path):
    app = synthgen_app
    runner = CliRunner()
    results = coco_person / "test_coco_det_AP_H_56.json"
    assert runner.invoke(app, ["prelabel", str(coco_person), "-o", str(tmp_path / "real"),
                               "--from-results", str(results), "--classes", "person"]).exit_code == 0  # fmt: skip
    tasks_file = tmp_path / "review" / "tasks.json"
    run = runner.invoke(app, ["review", "export", str(tmp_path / "real"), "--budget", "2", "-o", str(tasks_file)])
    assert run.exit_code == 0, run.output

    config = (tmp_path / "review" / "labeling_config.xml").read_text()
    project = call(f"{label_studio}/api/projects", "POST", {"title": "synthgen review", "label_config": config})
    imported = call(f"{label_studio}/api/projects/{project['id']}/import", "POST", json.loads(tasks_file.read_text()))
    assert imported["task_count"] == 2 and imported["prediction_count"] == 2
    listed = call(f"{label_studio}/api/tasks?project={project['id']}")
    tasks = sorted(listed["tasks"] if isinstance(listed, dict) else listed, key=lambda t: t["id"])
    assert [t["data"]["synthgen_file_name"] for t in tasks] == ["images/000000040083.jpg", "images/000000196141.jpg"]

    # the reviewer deletes the first two predicted boxes of the first image and skips the second image
    accepted = call(f"{label_studio}/api/tasks/{tasks[0]['id']}")["predictions"][0]["result"]
    call(f"{label_studio}/api/tasks/{tasks[0]['id']}/annotations", "POST", {"result": accepted[2:], "was_cancelled": False})
    call(f"{label_studio}/api/tasks/{tasks[1]['id']}/annotations", "POST", {"result": [], "was_cancelled": True})
    export = call(f"{label_studio}/api/projects/{project['id']}/export?exportType=JSON")
    export_file = tmp_path / "review" / "export.json"
    export_file.write_text(json.dumps(export))

    run = runner.invoke(app, ["review", "import", str(tmp_path / "real"), str(export_file), "-o", str(tmp_path / "reviewed")])
    assert run.exit_code == 0, run.output
    before = {s.file_name: s for s in load_dataset(tmp_path / "real").samples}
    after = {s.file_name: s for s in assert_valid_dataset(tmp_path / "reviewed").samples}
    reviewed, skipped = after["images/000000040083.jpg"], after["images/000000196141.jpg"]
    assert reviewed.provenance.source == "human" and skipped.provenance.source == "prelabel"
    expected = before["images/000000040083.jpg"].instances[2:]
    assert [i.box for i in reviewed.instances] == [pytest.approx(i.box, abs=1e-6) for i in expected]
    assert skipped.instances == before["images/000000196141.jpg"].instances


@pytest.mark.parametrize("masks", ["brush", "polygons"])
def test_label_studio_round_trip_with_masks(label_studio, coco_person, tmp_path, masks):
    """Masks go into Label Studio as predictions, a reviewer accepts one image's and erases a mask on
    the other; the export comes back as the same masks (exact for brush RLE) minus the erased one."""
    masked = prelabel_masks(coco_person, tmp_path / "masked")
    tasks_file = tmp_path / "review" / "tasks.json"
    run = invoke("review", "export", masked, "--budget", "2", "--masks", masks, "-o", tasks_file)
    assert run.exit_code == 0, run.output
    config = (tmp_path / "review" / "labeling_config.xml").read_text()
    project = call(f"{label_studio}/api/projects", "POST", {"title": f"synthgen {masks}", "label_config": config})
    imported = call(f"{label_studio}/api/projects/{project['id']}/import", "POST", json.loads(tasks_file.read_text()))
    assert imported["task_count"] == 2 and imported["prediction_count"] == 2
    listed = call(f"{label_studio}/api/tasks?project={project['id']}")
    tasks = sorted(listed["tasks"] if isinstance(listed, dict) else listed, key=lambda t: t["id"])
    names = [t["data"]["synthgen_file_name"] for t in tasks]
    results = [call(f"{label_studio}/api/tasks/{t['id']}")["predictions"][0]["result"] for t in tasks]
    kind = {"brush": "brushlabels", "polygons": "polygonlabels"}[masks]
    assert {r["type"] for result in results for r in result} == {kind}
    call(f"{label_studio}/api/tasks/{tasks[0]['id']}/annotations", "POST", {"result": results[0], "was_cancelled": False})
    call(f"{label_studio}/api/tasks/{tasks[1]['id']}/annotations", "POST", {"result": results[1][1:], "was_cancelled": False})
    export_file = tmp_path / "review" / "export.json"
    export_file.write_text(json.dumps(call(f"{label_studio}/api/projects/{project['id']}/export?exportType=JSON")))

    run = invoke("review", "import", masked, export_file, "-o", tmp_path / "reviewed")
    assert run.exit_code == 0, run.output
    before = {s.file_name: s for s in load_dataset(masked).samples}
    after = {s.file_name: s for s in assert_valid_dataset(tmp_path / "reviewed").samples}
    expected = [before[names[0]].instances, before[names[1]].instances[1:]]
    got = [after[names[0]].instances, after[names[1]].instances]
    assert [len(g) for g in got] == [len(e) for e in expected]
    for new_list, old_list in zip(got, expected, strict=True):
        for new, old in zip(new_list, old_list, strict=True):
            if masks == "brush":
                assert new.mask == old.mask
            else:
                assert mask_iou(new.decode_mask(), old.decode_mask()) >= 0.95
    assert after[names[1]].provenance.extra["review"]["edits"]["removed"] == 1
    assert after[names[0]].provenance.extra["review"]["selection"]["rank"] == 1
