"""The loop, measured: two real review rounds on the real photos, each recorded in a rounds log (images
sent, the people's edits, the detector's AP on a fixed validation set before and after retraining),
and `report --rounds` showing them; bad rounds logs and validation sets get one-line errors."""

import json
import re
import shutil
from dataclasses import replace

import pytest
from browser import CHROMIUM, open_in_chromium
from helpers import invoke
from review_helpers import RESULTS, answered

from synthgen.formats.coco import read_coco, to_coco
from synthgen.formats.folder import load_dataset
from synthgen.formats.rounds import read_rounds
from synthgen.real.evaluate import evaluate
from synthgen.real.prelabel.base import file_sha256
from synthgen.real.review import review_edits

pytest.importorskip("torch")

TRAIN = ("--epochs", "1", "--image-size", "64", "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn", "--batch-size", "2")


def ok(*args):
    run = invoke(*args)
    assert run.exit_code == 0, run.output
    return run.output


def first_round_answers(tasks):
    """Three tasks: the first loses five boxes, the second has a box moved, one reclassified and one
    drawn, the third is left unopened (skipped)."""
    export = answered(tasks)
    export[0]["annotations"][0]["result"] = export[0]["annotations"][0]["result"][:3]
    second = export[1]["annotations"][0]["result"]
    second[0]["value"]["x"] += 0.1 * second[0]["value"]["width"]  # IoU about 0.82 with its pre-label
    second[1]["value"]["rectanglelabels"] = ["car"]
    second.append({**second[2], "id": "drawn", "value": {**second[2]["value"], "x": 1.0, "y": 1.0, "width": 2.0, "height": 2.0}})
    export[2]["annotations"] = []
    return export


def true_labels(dataset, val):
    """A person's corrections: each pre-labelled photo with its true labels (the validation set's)."""
    truth = {s.file_name: s for s in read_coco(val).samples}
    return replace(dataset, samples=[replace(s, instances=truth[s.provenance.origin].instances) for s in dataset.samples])


def ap_record(val, predictions):
    result = evaluate(val, predictions)
    return {"ap": round(result.ap, 6), "ap50": round(result.ap50, 6), "ap75": round(result.ap75, 6),
            "val": str(val), "val_sha256": file_sha256(val), "predictions": str(predictions)}  # fmt: skip


@pytest.fixture(scope="module")
def loop(coco_person, tmp_path_factory):
    """Two rounds: the real detector's pre-labels corrected, a detector trained on them pre-labels the
    two photos not reviewed yet, those are corrected to their true labels, and it is retrained."""
    work = tmp_path_factory.mktemp("rounds")
    rounds, val = work / "rounds.json", coco_person / "test_coco.json"
    ok("prelabel", coco_person, "-o", work / "real1", "--from-results", coco_person / RESULTS, "--classes", "person,car")
    ok("review", "export", work / "real1", "--budget", "3", "-o", work / "tasks1.json")
    (work / "export1.json").write_text(json.dumps(first_round_answers(json.loads((work / "tasks1.json").read_text()))))
    printed = ok("review", "import", work / "real1", work / "export1.json", "-o", work / "reviewed1", "--rounds", rounds)
    ok("eval", val, work / "real1" / "annotations.json", "--rounds", rounds, "--stage", "before")
    ok("train", work / "reviewed1", "-o", work / "det1", *TRAIN)
    ok("prelabel", coco_person, "-o", work / "val1", "--weights", work / "det1", "--threshold", "0.01", "--classes", "person")
    ok("eval", val, work / "val1" / "annotations.json", "--rounds", rounds, "--stage", "after")

    photos = work / "photos2"  # the photos round 1 did not review
    photos.mkdir()
    for name in ("000000000785.jpg", "000000197388.jpg"):
        shutil.copy(coco_person / name, photos / name)
    ok("prelabel", photos, "-o", work / "real2", "--weights", work / "det1", "--threshold", "0.3")
    ok("review", "export", work / "real2", "--budget", "2", "--to", "coco", "-o", work / "queue2.json")
    corrections = to_coco(true_labels(load_dataset(work / "real2"), val))
    (work / "answers2.json").write_text(json.dumps(corrections))
    ok("review", "import", work / "real2", work / "answers2.json", "-o", work / "reviewed2", "--rounds", rounds)
    ok("eval", val, work / "val1" / "annotations.json", "--rounds", rounds, "--stage", "before")
    ok("train", work / "reviewed1", work / "reviewed2", "-o", work / "det2", "--weights", work / "det1", *TRAIN)
    ok("prelabel", coco_person, "-o", work / "val2", "--weights", work / "det2", "--threshold", "0.01", "--classes", "person")
    ok("eval", val, work / "val2" / "annotations.json", "--rounds", rounds, "--stage", "after")
    return work, rounds, val, printed


def test_two_rounds_are_recorded_with_edits_and_ap_before_and_after(loop, coco_person):
    work, rounds, val, printed = loop
    assert printed.splitlines()[-1] == f"{rounds}: round 1: 3 images sent, boxes 1 added, 5 removed, 1 moved, 1 reclassified"
    real2, truth = load_dataset(work / "real2"), {s.file_name: s for s in read_coco(val).samples}
    second = {key: 0 for key in ("kept", "added", "removed", "moved", "reclassified")}
    for sample in real2.samples:  # the edits worked out from the pre-labels and the true labels
        for key, count in review_edits(sample.instances, truth[sample.provenance.origin].instances).items():
            second[key] += count
    assert read_rounds(rounds) == [
        {"round": 1, "dataset": str(work / "real1"), "export": str(work / "export1.json"), "out": str(work / "reviewed1"),
         "classes": ["person", "car"], "images_sent": 3, "images_reviewed": 2, "images_skipped": 1,
         "edits": {"kept": 14, "added": 1, "removed": 5, "moved": 1, "reclassified": 1},
         "ap_before": ap_record(val, work / "real1" / "annotations.json"),
         "ap_after": ap_record(val, work / "val1" / "annotations.json")},
        {"round": 2, "dataset": str(work / "real2"), "export": str(work / "answers2.json"), "out": str(work / "reviewed2"),
         "classes": ["person", "car"], "images_sent": 2, "images_reviewed": 2, "images_skipped": 0, "edits": second,
         "ap_before": ap_record(val, work / "val1" / "annotations.json"),
         "ap_after": ap_record(val, work / "val2" / "annotations.json")},
    ]  # fmt: skip
    matched = second["kept"] + second["moved"] + second["reclassified"]
    assert matched + second["added"] == 1 + 5  # the true people of 000000000785.jpg and 000000197388.jpg
    assert matched + second["removed"] == sum(len(s.instances) for s in real2.samples)  # det1's pre-labels
    assert read_rounds(rounds)[0]["ap_before"]["ap"] == 0.787484  # the real detector's results kept down to 0.3
    manifest = json.loads((work / "reviewed2" / "manifest.json").read_text())
    assert (manifest["round"], manifest["rounds"], manifest["edits"]) == (2, str(rounds), second)


def rounds_rows(page):
    table = re.search(r'<table class="rounds">(.*?)</table>', page, re.DOTALL)[1]
    return [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]


def test_report_shows_the_rounds_as_a_table_and_a_chart(loop):
    work, rounds, _, _ = loop
    out = work / "report" / "report.html"
    assert ok("report", work / "reviewed2", "-o", out, "--rounds", rounds).strip() == f"{out}: 4 images"
    entries, page = read_rounds(rounds), out.read_text()
    after = [f"{e['ap_after'][key]:.3f}" for key in ("ap", "ap50") for e in entries]
    second = entries[1]["edits"]
    manual = second["added"] + second["removed"] + second["moved"] + second["reclassified"]
    assert rounds_rows(page) == [
        ["round", "images sent", "reviewed", "added", "removed", "moved", "reclassified", "manual edits",
         "per image", "AP before", "AP after", "AP50 before", "AP50 after"],
        ["1", "3", "2", "1", "5", "1", "1", "8", "4.0", "0.787", after[0], "0.982", after[2]],
        ["2", "2", "2", *(str(second[k]) for k in ("added", "removed", "moved", "reclassified")), str(manual),
         f"{manual / 2:.1f}", after[0], after[1], after[2], after[3]],
    ]  # fmt: skip
    assert '<h2>Review rounds</h2>' in page and re.findall(r'<img src="([^"]+)"', page)[0] == "report_files/rounds.png"
    if CHROMIUM is None:
        pytest.skip("needs a headless Chromium (apt-get install chromium) to open the report")
    loaded, images, dom = open_in_chromium(out)
    assert loaded == images == 4  # the rounds chart, and the dataset's classes, boxes and sheet
    assert rounds_rows(dom) == rounds_rows(page)  # the browser's page holds the same table


def test_bad_rounds_logs_and_validation_sets_get_one_line_errors(loop, coco_person, tmp_path):
    work, rounds, val, _ = loop
    cases = {
        "broken.json": ('{"rounds": [', "not valid JSON: Expecting value at line 1 column 13"),
        "edits.json": (json.dumps({"rounds": [{**read_rounds(rounds)[0], "edits": {"added": "x"}}]}),
                       "rounds[0].edits.kept: expected a whole number in [0, 9007199254740992] (got None)"),
        "numbers.json": (json.dumps({"rounds": [{**read_rounds(rounds)[0], "round": 3}]}),
                         "rounds[0].round: expected round 1 (rounds are numbered 1, 2, ... in order) (got 3)"),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        log = tmp_path / name
        log.write_text(text)
        run = invoke("review", "import", work / "real1", work / "export1.json", "-o", tmp_path / "out", "--rounds", log)
        assert (run.exit_code, run.output) == (1, f"error: {log}: {message}\n")
        assert not (tmp_path / "out").exists() and log.read_text() == text
    other_val = tmp_path / "val.json"
    coco = json.loads(val.read_text())
    other_val.write_text(json.dumps({**coco, "categories": [{"id": 1, "name": "forklift"}]}))
    predictions = work / "val1" / "annotations.json"
    moved_val = tmp_path / "val_copy.json"
    moved_val.write_text(json.dumps(coco))  # the same labels, another file: not the log's validation set
    before = rounds.read_text()
    for args, message in [
        ((other_val, predictions, "--rounds", rounds, "--stage", "after"),
         f"{other_val}: categories[].name: class 'forklift' is not among round 2's classes (person, car)"),
        ((val, predictions, "--stage", "after"),
         "--rounds, --stage: give both (the rounds log, and before or after retraining) or neither"),
        ((val, predictions, "--rounds", rounds, "--stage", "later"), "--stage: expected before or after (got 'later')"),
        ((val, predictions, "--rounds", rounds, "--stage", "after", "--round", "3"),
         f"--round: expected a round of {rounds}, 1 to 2 (got 3)"),
        ((moved_val, predictions, "--rounds", rounds, "--stage", "after"),
         (f"{rounds}: rounds[0].ap_before.val_sha256: expected the validation set every round is measured on ({val})"
         f" (got {moved_val}, another file); start another rounds log for it")),
        ((coco_person / "test_coco.json", predictions, "--rounds", tmp_path / "none.json", "--stage", "after"),
         f"{tmp_path / 'none.json'}: no such file"),
    ]:  # fmt: skip
        run = invoke("eval", *args)
        assert (run.exit_code, run.output.splitlines()[-1]) == (1, f"error: {message}")
    assert rounds.read_text() == before


def test_a_round_not_measured_yet_shows_no_ap(loop, tmp_path):
    work, rounds, _, _ = loop
    entry = {k: v for k, v in read_rounds(rounds)[0].items() if not k.startswith("ap_")}  # as written by hand
    log = tmp_path / "rounds.json"
    log.write_text(json.dumps({"rounds": [entry]}))
    assert read_rounds(log) == [{**entry, "ap_before": None, "ap_after": None}]
    ok("report", work / "reviewed1", "-o", tmp_path / "report.html", "--rounds", log)
    rows = rounds_rows((tmp_path / "report.html").read_text())
    assert rows[1:] == [["1", "3", "2", "1", "5", "1", "1", "8", "4.0", "&ndash;", "&ndash;", "&ndash;", "&ndash;"]]
