"""SAM refinement: a tiny random SamModel saved with its processor and loaded by path turns the boxes of
a real detector on the real COCO photos into masks (`synthgen refine`), and pre-labels on the fly
(`prelabel --refine sam`)."""

import functools

import numpy as np
import pytest
from detector_models import tiny_sam, tiny_sam2, tiny_yolo_onnx, yolo_head
from helpers import assert_valid_dataset, invoke
from paths import COCO_PERSON
from PIL import Image

from synthgen.formats.folder import load_dataset
from synthgen.real.prelabel import PrelabelError, make_detector, make_refiner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def sam(tmp_path_factory):
    return tiny_sam(tmp_path_factory.mktemp("sam") / "model")


@pytest.fixture(scope="module")
def boxes(tmp_path_factory):
    """The real person detector's boxes (score >= 0.5) on the four COCO photos, as a dataset folder."""
    out = tmp_path_factory.mktemp("boxes") / "real"
    run = invoke(
        "prelabel", COCO_PERSON, "-o", out, "--from-results", COCO_PERSON / "test_coco_det_AP_H_56.json",
        "--images-json", COCO_PERSON / "test_coco.json", "--threshold", "0.5",
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    return out


@functools.cache
def loaded(sam, version):
    names = ("SamProcessor", "SamModel") if version == 1 else ("Sam2Processor", "Sam2Model")
    return getattr(transformers, names[0]).from_pretrained(sam), getattr(transformers, names[1]).from_pretrained(sam).eval()


def sam_alone(sam, image, box, version=1):
    """SAM's mask for one box prompt, computed with the box alone (not batched with the others)."""
    processor, model = loaded(sam, version)
    x, y, w, h = box
    inputs = processor(images=[image], input_boxes=[[[x, y, x + w, y + h]]], return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs, multimask_output=False)
    sizes = [inputs["reshaped_input_sizes"]] if version == 1 else []
    masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"], *sizes)
    return masks[0][0, 0].numpy(), float(outputs.iou_scores[0, 0, 0])


def test_refine_turns_every_box_of_a_dataset_into_a_mask(sam, boxes, tmp_path):
    out = tmp_path / "masks"
    run = invoke("refine", boxes, "-o", out, "--sam-model", sam)
    assert run.exit_code == 0, run.output
    before, after = load_dataset(boxes), assert_valid_dataset(out)
    assert after.class_names == before.class_names == ["person"]
    assert [s.file_name for s in after.samples] == [s.file_name for s in before.samples]
    prompts = [[i.box for i in s.instances] for s in before.samples]
    assert [[tuple(i.attributes["box_prompt"]) for i in s.instances] for s in after.samples] == prompts
    assert sum(len(p) for p in prompts) >= 8
    assert run.output.endswith(f"4 images, {sum(len(p) for p in prompts)} boxes refined into masks\n")
    sample = after.samples[0]
    with Image.open(out / sample.file_name) as photo:
        image = photo.convert("RGB")
    for refined, prompt in zip(sample.instances, before.samples[0].instances, strict=True):
        mask, quality = sam_alone(sam, image, prompt.box)
        assert np.array_equal(refined.decode_mask(), mask)
        assert refined.attributes["sam_score"] == pytest.approx(quality, abs=1e-5)
        assert refined.score == prompt.score and refined.category == "person"
        assert refined.box != prompt.box  # the box is now the mask's bounds (checked by assert_valid_dataset)
    provenance = sample.provenance
    assert provenance.model_ids["sam_model"] == str(sam) and len(provenance.model_ids["sam_sha256"]) == 64
    assert provenance.extra["refine"] == "sam" and provenance.model_ids["detector"] == before.samples[0].provenance.model_ids["detector"]


def test_sam2_refines_the_same_way(boxes, tmp_path):
    sam2 = tiny_sam2(tmp_path / "sam2")
    run = invoke("refine", boxes, "-o", tmp_path / "masks", "--sam-model", sam2)
    assert run.exit_code == 0, run.output
    sample, before = assert_valid_dataset(tmp_path / "masks").samples[1], load_dataset(boxes).samples[1]
    with Image.open(tmp_path / "masks" / sample.file_name) as photo:
        image = photo.convert("RGB")
    assert len(sample.instances) == len(before.instances) > 0
    for refined, prompt in zip(sample.instances, before.instances, strict=True):
        mask, quality = sam_alone(sam2, image, prompt.box, version=2)
        assert np.array_equal(refined.decode_mask(), mask) and refined.attributes["box_prompt"] == list(prompt.box)
        assert refined.attributes["sam_score"] == pytest.approx(quality, abs=1e-5)


def test_prelabel_refine_sam_masks_the_detector_boxes(sam, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((64, 128, 3), 90, np.uint8)).save(photos / "wide.png")
    yolo = tiny_yolo_onnx(tmp_path / "yolo.onnx", yolo_head([(8, 20, 24, 36, 0.9, 0.1), (40, 30, 60, 46, 0.2, 0.7)]))
    out = tmp_path / "real"
    run = invoke("prelabel", photos, "-o", out, "--detector", "yolo", "--weights", yolo, "--refine", "sam", "--sam-model", sam)
    assert run.exit_code == 0, run.output
    sample = assert_valid_dataset(out).samples[0]
    assert [(i.category, i.attributes["box_prompt"]) for i in sample.instances] == [
        ("person", [16.0, 8.0, 32.0, 32.0]), ("car", [80.0, 28.0, 40.0, 32.0]),
    ]  # fmt: skip
    assert all(i.mask is not None for i in sample.instances)
    assert sample.provenance.model_ids["detector"] == "yolo" and sample.provenance.model_ids["sam_model"] == str(sam)
    assert sample.provenance.extra == {"threshold": 0.3, "refine": "sam", "reviewed": False}


def test_bad_sam_settings_get_one_line_errors(sam, boxes, tmp_path):
    bare = tiny_sam(tmp_path / "bare", processor=False)
    with pytest.raises(PrelabelError, match=r"--sam-model: '.*bare' has no SAM processor: "):
        make_refiner("sam", str(bare))
    transformers.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "bert")
    with pytest.raises(PrelabelError, match=r"--sam-model: '.*bert' is a bert model, not one of sam, sam_hq, sam2"):
        make_refiner("sam", str(tmp_path / "bert"))
    with pytest.raises(PrelabelError, match=r"--sam-model: cannot load SAM from '.*nothing'"):
        make_refiner("sam", str(tmp_path / "nothing"))
    with pytest.raises(PrelabelError, match=r"--refine: expected one of sam \(got None\)"):
        make_detector(None, weights=tmp_path / "any.safetensors", sam_model=str(sam))
    with pytest.raises(PrelabelError, match=r"--refine sam: needs --sam-model"):
        make_detector(None, weights=tmp_path / "any.safetensors", refine="sam")
    run = invoke("refine", boxes, "-o", tmp_path / "out", "--sam-model", sam, "--refine", "sam2000")
    assert run.exit_code == 1 and run.output == "error: --refine: expected one of sam (got 'sam2000')\n"
    shrunk = tmp_path / "shrunk"
    invoke("prelabel", COCO_PERSON, "-o", shrunk, "--from-results", COCO_PERSON / "test_coco_det_AP_H_56.json",
           "--images-json", COCO_PERSON / "test_coco.json", "--threshold", "0.5")  # fmt: skip
    first = sorted((shrunk / "images").iterdir())[0]
    with Image.open(first) as image:
        small = image.resize((32, 32))
    first.unlink()  # a hard link to the test data: replace it, never write through it
    small.save(first, format="JPEG")
    run = invoke("refine", shrunk, "-o", tmp_path / "out", "--sam-model", sam)
    assert run.exit_code == 1
    assert run.output.splitlines()[-1] == f"error: {first}: annotations.json says 640x425 (got 32x32)"
    assert not (tmp_path / "out").exists()
