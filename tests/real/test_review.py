"""Review queue: uncertainty ranking, Label Studio tasks, and corrections coming back."""

import json

import numpy as np
import pytest
from helpers import assert_valid_dataset, invoke
from review_helpers import answered, mask_iou, prelabel_boxes, prelabel_masks

from synthgen import labels
from synthgen.errors import InputError, UnsafePathError
from synthgen.formats import labelstudio
from synthgen.formats.folder import load_dataset
from synthgen.labels import Instance
from synthgen.real.review import ReviewError, export_review, import_review, review_edits
from synthgen.real.selection import instance_uncertainty


@pytest.fixture()
def prelabelled(coco_person, tmp_path):
    return prelabel_boxes(coco_person, tmp_path / "real")


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
    review = after["images/000000040083.jpg"].provenance.extra["review"]
    assert review == {
        "tool": "labelstudio", "annotation_id": 101, "by": 1,
        "selection": {"strategy": "uncertainty", "rank": 1, "scores": {"uncertainty": 0.989229}},
        "edits": {"kept": 3, "added": 0, "removed": 5, "moved": 0, "reclassified": 0},
    }  # fmt: skip
    manifest = json.loads((tmp_path / "reviewed" / "manifest.json").read_text())
    assert manifest["edits"] == {"kept": 3, "added": 0, "removed": 5, "moved": 0, "reclassified": 0}
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
    assert sample.provenance.extra["review"] == {
        "tool": "coco", "edits": {"kept": 0, "added": 1, "removed": 2, "moved": 0, "reclassified": 0}
    }


def test_export_to_coco_writes_the_queue(prelabelled, tmp_path):
    export_review(prelabelled, 1, "coco", tmp_path / "queue.json")
    queue = json.loads((tmp_path / "queue.json").read_text())
    assert [i["file_name"] for i in queue["images"]] == ["images/000000040083.jpg"]
    assert len(queue["annotations"]) == 8 and all("score" in a for a in queue["annotations"])
    reason = {"strategy": "uncertainty", "rank": 1, "scores": {"uncertainty": 0.989229}}
    assert queue["images"][0]["provenance"]["extra"]["selection"] == reason
    assert json.loads((tmp_path / "selection.json").read_text()) == [
        {"file_name": "images/000000040083.jpg", "score": 0.989229, **reason}]
    assert import_review(prelabelled, tmp_path / "queue.json", tmp_path / "reviewed") == (1, 0)  # answered unchanged
    review = load_dataset(tmp_path / "reviewed").samples[1].provenance.extra["review"]
    assert review == {"tool": "coco", "selection": reason,
                      "edits": {"kept": 8, "added": 0, "removed": 0, "moved": 0, "reclassified": 0}}  # fmt: skip


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


# --- masks in Label Studio ---------------------------------------------------------------------


@pytest.fixture()
def masked(coco_person, tmp_path):
    """The real photos pre-labelled with their 14 true person masks."""
    return prelabel_masks(coco_person, tmp_path / "masked")


def test_brush_rle_is_label_studio_s_own_encoding():
    mask = np.array([[0, 1, 1], [0, 0, 1]], dtype=bool)
    expected = [0, 0, 0, 24, 57, 27, 252, 96, 19, 255, 206, 1, 31, 248]  # label-studio-converter's mask2rle
    assert labelstudio.brush_rle(mask) == expected
    assert labelstudio.brush_mask(expected, 2, 3, "x").tolist() == mask.tolist()
    # an RGBA image with single values (literal runs) as the converter's encode_rle packs it: alpha 200, 0, 90, 255
    mixed = [0, 0, 0, 16, 57, 27, 248, 1, 64, 10, 0, 60, 6, 68, 96, 0, 2, 128, 12, 0, 56, 11, 81, 0, 129, 254]
    assert labelstudio.brush_mask(mixed, 1, 4, "x").tolist() == [[True, False, False, True]]
    big = np.zeros((300, 301), dtype=bool)
    big[10:290, 3:] = True  # runs longer than 2**16 values
    assert (labelstudio.brush_mask(labelstudio.brush_rle(big), 300, 301, "x") == big).all()


@pytest.mark.parametrize("masks", ["brush", "polygons"])
def test_accepted_masks_come_back_as_the_same_masks(masked, tmp_path, masks):
    tasks_file = tmp_path / "tasks.json"
    run = invoke("review", "export", masked, "--budget", "4", "--masks", masks, "-o", tasks_file)
    assert run.exit_code == 0, run.output
    tasks = json.loads(tasks_file.read_text())
    kind = {"brush": "brushlabels", "polygons": "polygonlabels"}[masks]
    assert [r["type"] for t in tasks for r in t["predictions"][0]["result"]] == [kind] * 14
    config = (tmp_path / "labeling_config.xml").read_text()
    control = {"brush": "BrushLabels", "polygons": "PolygonLabels"}[masks]
    assert f'<{control} name="{masks.rstrip("s")}" toName="image">' in config and "<RectangleLabels" in config
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(answered(tasks)))
    assert import_review(masked, export_file, tmp_path / "reviewed") == (4, 0)
    before = {s.file_name: s for s in load_dataset(masked).samples}
    after = assert_valid_dataset(tmp_path / "reviewed").samples
    assert [len(s.instances) for s in after] == [len(before[s.file_name].instances) for s in after]
    ious = [mask_iou(new.decode_mask(), old.decode_mask()) for s in after
            for new, old in zip(s.instances, before[s.file_name].instances, strict=True)]  # fmt: skip
    if masks == "brush":  # exact: the same RLE, box and area
        assert [i.mask for s in after for i in s.instances] == [i.mask for s in after for i in before[s.file_name].instances]
    assert len(ious) == 14 and min(ious) >= (1.0 if masks == "brush" else 0.95)
    edits = [s.provenance.extra["review"]["edits"] for s in after]
    assert edits == [{"kept": len(s.instances), "added": 0, "removed": 0, "moved": 0, "reclassified": 0} for s in after]


def test_a_painted_over_brush_mask_comes_back_as_painted(masked, tmp_path):
    tasks_file = tmp_path / "tasks.json"
    export_review(masked, 1, "labelstudio", tasks_file)
    export = answered(json.loads(tasks_file.read_text()))
    result = export[0]["annotations"][0]["result"][0]
    name = export[0]["data"]["synthgen_file_name"]
    original = next(s for s in load_dataset(masked).samples if s.file_name == name).instances[0].decode_mask()
    edited = original.copy()
    edited[:, : edited.shape[1] // 2] = False  # the reviewer erased the left half of the image
    edited[0:5, 0:5] = True  # and painted a corner
    result["value"]["rle"] = labelstudio.brush_rle(edited)
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))
    import_review(masked, export_file, tmp_path / "reviewed")
    sample = next(s for s in load_dataset(tmp_path / "reviewed").samples if s.file_name == name)
    assert (sample.instances[0].decode_mask() == edited).all()
    assert sample.instances[0].box == labels.rle_box(labels.encode_mask(edited))
    assert mask_iou(edited, original) < 0.95  # so the edit counts as a move
    others = len(sample.instances) - 1
    assert sample.provenance.extra["review"]["edits"] == {"kept": others, "added": 0, "removed": 0, "moved": 1, "reclassified": 0}


def test_broken_or_empty_brush_masks_fail(masked, tmp_path):
    tasks_file = tmp_path / "tasks.json"
    export_review(masked, 1, "labelstudio", tasks_file)
    export = answered(json.loads(tasks_file.read_text()))
    result = export[0]["annotations"][0]["result"][1]
    value, height, width = result["value"], result["original_height"], result["original_width"]
    assert (height, width) == (429, 640)
    export_file = tmp_path / "export.json"
    value["rle"] = value["rle"][:10]
    export_file.write_text(json.dumps(export))
    with pytest.raises(ReviewError, match=r"export.json: \[0\].annotations\[0\].result\[1\].value.rle: not Label Studio brush RLE \(RLE ends early\)$"):
        import_review(masked, export_file, tmp_path / "reviewed")
    value["rle"] = labelstudio.brush_rle(np.zeros((3, 3), dtype=bool))
    export_file.write_text(json.dumps(export))
    with pytest.raises(ReviewError, match=r"result\[1\].value.rle: not Label Studio brush RLE \(holds 36 values, "
                                          r"expected 1098240 \(height x width x 4\)\)$"):  # fmt: skip
        import_review(masked, export_file, tmp_path / "reviewed")
    value["rle"] = labelstudio.brush_rle(np.zeros((height, width), dtype=bool))
    export_file.write_text(json.dumps(export))
    run = invoke("review", "import", masked, export_file, "-o", tmp_path / "reviewed")
    assert run.exit_code == 1 and not (tmp_path / "reviewed").exists()
    assert run.output == f"error: {export_file}: [0].annotations[0].result[1].value: the brushlabels mask is empty\n"
    result["original_width"] = 64000  # a size the image does not have is refused before any mask is drawn
    export_file.write_text(json.dumps(export))
    with pytest.raises(ReviewError, match=r"result\[1\].original_width/original_height: 64000x429, expected the image's 640x429$"):
        import_review(masked, export_file, tmp_path / "reviewed")


def test_unknown_mask_mode_fails(masked, tmp_path):
    run = invoke("review", "export", masked, "--masks", "paint", "-o", tmp_path / "tasks.json")
    assert run.exit_code == 1
    assert run.output == "error: --masks: 'paint' is not a mask mode for labelstudio; use one of brush, polygons, none\n"


def test_review_edits_count_what_a_person_changed():
    before = [Instance("person", (0, 0, 10, 10), 100, score=0.4), Instance("person", (50, 50, 10, 10), 100, score=0.6),
              Instance("person", (100, 0, 10, 10), 100, score=0.5), Instance("car", (200, 0, 10, 10), 100, score=0.9)]
    after = [Instance("person", (0, 0, 10, 10), 100), Instance("person", (52, 50, 10, 10), 100),
             Instance("car", (100, 0, 10, 10), 100), Instance("person", (300, 0, 5, 5), 25)]  # fmt: skip
    assert review_edits(before, after) == {"kept": 1, "added": 1, "removed": 1, "moved": 1, "reclassified": 1}
    assert review_edits([], []) == {"kept": 0, "added": 0, "removed": 0, "moved": 0, "reclassified": 0}
