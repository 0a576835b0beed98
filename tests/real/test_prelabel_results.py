"""`prelabel --from-results` on real photos and a real detector's output; bad photos and bad results."""

import hashlib
import json
import shutil

import pytest
from helpers import assert_valid_dataset, invoke

from synthgen.real.evaluate import evaluate

RESULTS = "test_coco_det_AP_H_56.json"
PHOTOS = ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"]


@pytest.fixture()
def photos(coco_person, tmp_path):
    """The four real photos alone in a folder (links, no copies of bytes where possible)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copyfile(coco_person / name, folder / name)
    return folder


def test_results_become_a_valid_prelabel_dataset(coco_person, tmp_path):
    out = tmp_path / "real"
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person")
    assert run.exit_code == 0, run.output
    assert run.output.strip() == f"{out}: 4 images, 33 pre-labels (0 skipped)"
    dataset = assert_valid_dataset(out)
    assert dataset.class_names == ["person"]
    assert [s.file_name for s in dataset.samples] == [f"images/{name}" for name in PHOTOS]
    assert [len(s.instances) for s in dataset.samples] == [2, 8, 13, 10]  # scores >= 0.3 per image
    provenance = dataset.samples[0].provenance
    digest = hashlib.sha256((coco_person / RESULTS).read_bytes()).hexdigest()
    assert provenance.source == "prelabel" and provenance.origin == PHOTOS[0]
    assert provenance.model_ids == {"detector": f"results:{RESULTS}", "weights_sha256": digest}
    assert provenance.extra == {"threshold": 0.3, "reviewed": False}
    assert (out / "images" / PHOTOS[0]).read_bytes() == (coco_person / PHOTOS[0]).read_bytes()
    assert json.loads((out / "manifest.json").read_text())["skipped"] == []


def test_images_json_names_ids_and_classes_and_scores_survive(coco_person, tmp_path):
    out = tmp_path / "real"
    run = invoke(
        "prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS,
        "--images-json", coco_person / "test_coco.json", "--threshold", "0",
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    results = json.loads((coco_person / RESULTS).read_text())
    assert sum(len(s.instances) for s in dataset.samples) == len(results) == 118
    first = next(r for r in results if r["image_id"] == 785)
    assert dataset.samples[0].instances[0].score == first["score"]
    # evaluated against the real labels, the clipped pre-labels score as the raw results do
    assert evaluate(coco_person / "test_coco.json", out / "annotations.json").ap == pytest.approx(0.7891214, abs=1e-6)


def test_results_for_a_photo_not_in_the_folder_fail(photos, coco_person, tmp_path):
    (photos / PHOTOS[0]).unlink()
    out = tmp_path / "real"
    run = invoke("prelabel", photos, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person")
    assert run.exit_code == 1
    assert run.output == f"error: {coco_person / RESULTS}: [0].image_id: 785 is not a photo in the folder\n"
    assert not out.exists()


def test_results_need_class_names_and_known_classes(coco_person, tmp_path):
    out = tmp_path / "real"
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS)
    assert run.exit_code == 1 and "name its category ids with --classes or --images-json" in run.output
    run = invoke(
        "prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS,
        "--images-json", coco_person / "test_coco.json", "--classes", "person,forklift",
    )  # fmt: skip
    assert run.exit_code == 1 and "--classes: forklift not among the categories (person)" in run.output
    assert not out.exists()


def test_malformed_results_fail_naming_the_field(coco_person, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": [1, 2, -3, 4], "score": 0.9}]))
    run = invoke("prelabel", coco_person, "-o", tmp_path / "real", "--from-results", results, "--classes", "person")
    assert run.exit_code == 1
    assert run.output.startswith(f"error: {results}: [0].bbox: expected a box with w, h >= 0 (got [1, 2, -3, 4])")


def test_unreadable_photos_are_listed_and_fail_unless_skip_bad(photos, coco_person, tmp_path):
    (photos / "truncated.jpg").write_bytes((coco_person / PHOTOS[1]).read_bytes()[:5000])
    (photos / "notes.png").write_text("not an image")
    out = tmp_path / "real"
    args = ["prelabel", photos, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person"]
    run = invoke(*args)
    assert run.exit_code == 1
    lines = run.output.splitlines()
    assert [line.split(": ")[1] for line in lines[:2]] == [str(photos / "notes.png"), str(photos / "truncated.jpg")]
    assert lines[2] == f"error: {photos}: 2 unreadable photo(s); fix or remove them, or pass --skip-bad"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["photos"]
    run = invoke(*args, "--skip-bad")
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    assert len(dataset.samples) == 4
    assert [name for name, _ in json.loads((out / "manifest.json").read_text())["skipped"]] == ["notes.png", "truncated.jpg"]


def test_existing_output_is_refused(coco_person, tmp_path):
    out = tmp_path / "real"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person")
    assert run.exit_code == 1 and "output folder already exists" in run.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
