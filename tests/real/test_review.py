"""Review queue: uncertainty ranking, Label Studio tasks, and corrections coming back."""

import json

import pytest
from helpers import assert_valid_dataset, invoke

from synthgen.errors import InputError, UnsafePathError
from synthgen.formats.folder import load_dataset
from synthgen.labels import Instance
from synthgen.real.review import ReviewError, export_review, import_review, instance_uncertainty

RESULTS = "test_coco_det_AP_H_56.json"


@pytest.fixture()
def prelabelled(coco_person, tmp_path):
    """The real photos pre-labelled from the real detector's results (scores >= 0.3)."""
    out = tmp_path / "real"
    run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS, "--classes", "person")
    assert run.exit_code == 0, run.output
    return out


def answered(tasks, skip=()):
    """A Label Studio export in which a reviewer accepted each prediction (or skipped the task)."""
    export = []
    for task_id, task in enumerate(tasks, start=1):
        regions = [{k: v for k, v in r.items() if k != "score"} for r in task["predictions"][0]["result"]]
        annotation = {"id": 100 + task_id, "completed_by": 1, "was_cancelled": task_id in skip, "result": regions}
        export.append({"id": task_id, "data": task["data"], "annotations": [annotation], "predictions": []})
    return export


def test_uncertainty_is_highest_at_a_coin_flip():
    def score(s):
        return instance_uncertainty(Instance("person", (0, 0, 1, 1), 1, score=s))

    assert [score(s) for s in (0.5, 0.75, 1.0, 0.0)] == [1.0, 0.5, 0.0, 0.0]
    assert score(None) == 0.0


def test_export_sends_the_most_uncertain_images_with_predictions(prelabelled, tmp_path):
    tasks_file = tmp_path / "review" / "tasks.json"
    run = invoke("review", "export", prelabelled, "--budget", "2", "--to", "labelstudio", "-o", tasks_file,
                 "--image-root", "http://files/")  # fmt: skip
    assert run.exit_code == 0, run.output
    tasks = json.loads(tasks_file.read_text())
    names = [t["data"]["synthgen_file_name"] for t in tasks]
    assert names == ["images/000000040083.jpg", "images/000000196141.jpg"]
    assert [t["data"]["image"] for t in tasks] == ["http://files/" + n for n in names]
    assert [t["data"]["uncertainty"] for t in tasks] == [0.989229, 0.980959]
    assert [len(t["predictions"][0]["result"]) for t in tasks] == [8, 13]
    dataset = load_dataset(prelabelled)
    first_box = dataset.samples[1].instances[0]
    region = tasks[0]["predictions"][0]["result"][0]
    assert region["value"]["x"] == pytest.approx(100 * first_box.box[0] / dataset.samples[1].width)
    assert region["score"] == first_box.score and region["value"]["rectanglelabels"] == ["person"]
    config = (tmp_path / "review" / "labeling_config.xml").read_text()
    assert '<Label value="person"/>' in config and '<RectangleLabels name="label" toName="image">' in config


def test_accepting_every_prediction_round_trips_to_the_original(prelabelled, tmp_path):
    tasks_file = tmp_path / "tasks.json"
    export_review(prelabelled, 10, "labelstudio", tasks_file)
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(answered(json.loads(tasks_file.read_text()))))
    assert import_review(prelabelled, export_file, tmp_path / "reviewed") == (4, 0)
    before, after = load_dataset(prelabelled), assert_valid_dataset(tmp_path / "reviewed")
    assert [s.file_name for s in after.samples] == [s.file_name for s in before.samples]
    for old, new in zip(before.samples, after.samples, strict=True):
        assert [i.category for i in new.instances] == [i.category for i in old.instances]
        assert [i.box for i in new.instances] == [pytest.approx(i.box, abs=1e-9) for i in old.instances]
        assert all(i.score is None for i in new.instances)
        assert new.provenance.source == "human" and new.provenance.extra["reviewed"] is True
        assert new.provenance.model_ids == old.provenance.model_ids


def test_corrections_replace_reviewed_images_and_skipped_keep_pre_labels(prelabelled, tmp_path):
    tasks_file = tmp_path / "tasks.json"
    export_review(prelabelled, 3, "labelstudio", tasks_file)
    export = answered(json.loads(tasks_file.read_text()), skip={2})
    export[0]["annotations"][0]["result"] = export[0]["annotations"][0]["result"][:3]  # reviewer deleted five boxes
    export[2]["annotations"] = []  # never opened
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))
    run = invoke("review", "import", prelabelled, export_file, "-o", tmp_path / "reviewed")
    assert run.exit_code == 0, run.output
    assert run.output.strip() == f"{tmp_path / 'reviewed'}: 1 images reviewed, 2 skipped (kept their pre-labels)"
    after = {s.file_name: s for s in assert_valid_dataset(tmp_path / "reviewed").samples}
    assert [len(s.instances) for s in after.values()] == [2, 3, 13, 10]
    assert [s.provenance.source for s in after.values()] == ["prelabel", "human", "prelabel", "prelabel"]
    assert after["images/000000040083.jpg"].provenance.extra["review"] == {"tool": "labelstudio", "annotation_id": 101, "by": 1}
    assert after["images/000000196141.jpg"].provenance.extra["reviewed"] is False


def test_coco_corrections_mark_their_images_reviewed(prelabelled, tmp_path):
    corrections = tmp_path / "corrections.json"
    corrections.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "images/000000000785.jpg", "width": 640, "height": 425}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0}],
        "categories": [{"id": 3, "name": "person"}],
    }))  # fmt: skip
    assert import_review(prelabelled, corrections, tmp_path / "reviewed") == (1, 0)
    sample = load_dataset(tmp_path / "reviewed").samples[0]
    assert [(i.category, i.box, i.score) for i in sample.instances] == [("person", (10.0, 20.0, 30.0, 40.0), None)]
    assert sample.provenance.extra["review"] == {"tool": "coco"}


def test_export_to_coco_writes_the_queue(prelabelled, tmp_path):
    export_review(prelabelled, 1, "coco", tmp_path / "queue.json")
    queue = json.loads((tmp_path / "queue.json").read_text())
    assert [i["file_name"] for i in queue["images"]] == ["images/000000040083.jpg"]
    assert len(queue["annotations"]) == 8 and all("score" in a for a in queue["annotations"])


def test_unknown_class_in_an_export_fails_without_output(prelabelled, tmp_path):
    tasks_file = tmp_path / "tasks.json"
    export_review(prelabelled, 1, "labelstudio", tasks_file)
    export = answered(json.loads(tasks_file.read_text()))
    export[0]["annotations"][0]["result"][2]["value"]["rectanglelabels"] = ["forklift"]
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))
    run = invoke("review", "import", prelabelled, export_file, "-o", tmp_path / "reviewed")
    assert run.exit_code == 1
    assert run.output == (
        f"error: {export_file}: [0].annotations[0].result[2].value.rectanglelabels: unknown class 'forklift'\n"
    )
    assert not (tmp_path / "reviewed").exists()


def test_export_naming_an_image_outside_the_dataset_fails(prelabelled, tmp_path):
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps([{"data": {"synthgen_file_name": "../../etc/passwd"}, "annotations": []}]))
    with pytest.raises(ReviewError, match=r"\[0\].data.synthgen_file_name: '../../etc/passwd' is not an image of the dataset"):
        import_review(prelabelled, export_file, tmp_path / "reviewed")


def test_dataset_file_names_that_escape_the_folder_fail(prelabelled, tmp_path):
    annotations = prelabelled / "annotations.json"
    coco = json.loads(annotations.read_text())
    coco["images"][0]["file_name"] = "../../outside.jpg"
    annotations.write_text(json.dumps(coco))
    export_file = tmp_path / "export.json"
    export_file.write_text("[]")
    with pytest.raises(UnsafePathError, match="file_name: '../../outside.jpg' escapes"):
        import_review(prelabelled, export_file, tmp_path / "reviewed")
    run = invoke("review", "import", prelabelled, export_file, "-o", tmp_path / "reviewed")
    assert run.exit_code == 1 and "escapes" in run.output and not (tmp_path / "reviewed").exists()


def test_malformed_export_fails(prelabelled, tmp_path):
    export_file = tmp_path / "export.json"
    export_file.write_text('{"tasks": ')
    with pytest.raises(InputError, match="export.json: not valid JSON"):
        import_review(prelabelled, export_file, tmp_path / "reviewed")
    export_file.write_text('[{"data": {}}]')
    with pytest.raises(ReviewError, match=r"\[0\].data.synthgen_file_name: missing"):
        import_review(prelabelled, export_file, tmp_path / "reviewed")
