"""YOLO from ONNX: tiny YOLO-shaped ONNX files with known raw outputs, loaded as users load theirs,
so the boxes and masks after letterbox + NMS are known exactly; ultralytics' own post-processing on
the same raw outputs (when ultralytics is installed) agrees on the real COCO photos."""

import json
import math

import numpy as np
import pytest
from detector_models import tiny_yolo_onnx, tiny_yolo_torch_onnx
from detector_models import yolo_head as head
from helpers import assert_valid_dataset, invoke
from paths import COCO_PERSON
from PIL import Image

from synthgen.labels import decode_mask
from synthgen.real.prelabel import PrelabelError, make_detector
from synthgen.real.prelabel.folder import list_photos, read_photo
from synthgen.real.selection import instance_entropy, instance_margin, instance_uncertainty

pytest.importorskip("onnxruntime")


# Input 64x64; a 128x64 photo is scaled by 0.5 to 64x32 and padded by 16 rows above and below.
DETECTIONS = head([
    (8, 20, 24, 36, 0.9, 0.1),  # person, kept
    (9, 20, 25, 36, 0.8, 0.0),  # person, IoU 0.88 with the first: suppressed
    (8, 20, 24, 36, 0.1, 0.85),  # car on the same spot: another class, kept
    (40, 30, 56, 46, 0.2, 0.1),  # below the threshold
    (14, 20, 30, 36, 0.6, 0.0),  # person, IoU 0.45 with the first: kept
    (56, 40, 72, 56, 0.0, 0.5),  # car running off the photo: clipped
])  # fmt: skip


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    pixels = np.full((64, 128, 3), 10, np.uint8)
    pixels[24:48, 64:96, 0] = 250  # a red rectangle
    Image.fromarray(pixels).save(folder / "wide.png")
    return folder


def test_detection_head_gives_the_boxes_letterbox_and_nms_imply(photos, tmp_path):
    model = tiny_yolo_onnx(tmp_path / "yolo.onnx", DETECTIONS)
    out = tmp_path / "real"
    run = invoke("prelabel", photos, "-o", out, "--detector", "yolo", "--weights", model, "--threshold", "0.3")
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    assert dataset.class_names == ["person", "car"]
    found = [(i.category, i.box, round(i.score, 6), i.mask) for i in dataset.samples[0].instances]
    assert found == [
        ("person", (16.0, 8.0, 32.0, 32.0), 0.9, None),
        ("car", (16.0, 8.0, 32.0, 32.0), 0.85, None),
        ("person", (28.0, 8.0, 32.0, 32.0), 0.6, None),
        ("car", (112.0, 48.0, 16.0, 16.0), 0.5, None),
    ]
    assert [i.attributes for i in dataset.samples[0].instances] == [
        {"class_scores": {"person": 0.9, "car": 0.1}},
        {"class_scores": {"person": 0.1, "car": 0.85}},
        {"class_scores": {"person": 0.6}},  # car 0.0: below the floor of 0.01
        {"class_scores": {"car": 0.5}},
    ]  # each box's row of the head, as written to annotations.json
    provenance = dataset.samples[0].provenance
    assert provenance.model_ids["detector"] == "yolo" and len(provenance.model_ids["weights_sha256"]) == 64
    for variant in ({"half": True}, {"dynamic": True}):  # float16 export; open input sizes (imgsz from metadata)
        other = make_detector("yolo", weights=tiny_yolo_onnx(tmp_path / "other.onnx", DETECTIONS, **variant), threshold=0.3)
        assert [(i.category, i.box) for i in other.predict([read_photo(photos, "wide.png")])[0]] == [c[:2] for c in found]
    cars = make_detector("yolo", weights=model, classes={"car": ["car"]}, threshold=0.3)
    assert cars.classes == ["car"] and cars.task == "detect" and cars.size == (64, 64)
    assert [(i.category, i.box, i.attributes) for i in cars.predict([read_photo(photos, "wide.png")])[0]] == [
        ("car", (16.0, 8.0, 32.0, 32.0), {"class_scores": {"car": 0.85}}),
        ("car", (112.0, 48.0, 16.0, 16.0), {"class_scores": {"car": 0.5}}),
    ]  # fmt: skip


def test_entropy_and_margin_rank_by_the_head_s_class_scores(photos, tmp_path):
    """The second box scores car 0.85, person 0.1: its margin (0.25) is not its uncertainty (0.3)."""
    model = tiny_yolo_onnx(tmp_path / "yolo.onnx", DETECTIONS)
    out = tmp_path / "real"
    assert invoke("prelabel", photos, "-o", out, "--detector", "yolo", "--weights", model, "--threshold", "0.55").exit_code == 0
    instances = assert_valid_dataset(out).samples[0].instances
    assert [round(instance_uncertainty(i), 6) for i in instances] == [0.2, 0.3, 0.8]
    assert [round(instance_margin(i), 6) for i in instances] == [0.2, 0.25, 0.8]
    # over the class scores and the background (what they leave of 1): (0.9, 0.1, 0), (0.1, 0.85, 0.05), (0.6, 0.4)
    entropy = [-sum(p * math.log(p) for p in ps) / math.log(n) for ps, n in (([0.9, 0.1], 3), ([0.1, 0.85, 0.05], 3), ([0.6, 0.4], 2))]
    assert [round(instance_entropy(i), 6) for i in instances] == [round(e, 6) for e in entropy]
    run = invoke("review", "export", out, "--budget", "1", "--strategy", "entropy+margin", "-o", tmp_path / "tasks.json")
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "selection.json").read_text())[0]["scores"] == {"entropy": round(entropy[2], 6), "margin": 0.8}


def test_real_photos_letterbox_with_rounded_sides_and_per_axis_gains(tmp_path):
    """640x425 -> 64x42 (42.5 rounds to even), 11 rows above; 500x333 -> 64x43, 10 rows above and 11
    below. Boxes come back through each axis' own gain (42 / 425 tall), as ultralytics 8.4 does."""
    out = tmp_path / "real"
    run = invoke("prelabel", COCO_PERSON, "-o", out, "--detector", "yolo", "--weights", tiny_yolo_onnx(tmp_path / "y.onnx", DETECTIONS))
    assert run.exit_code == 0, run.output
    by_name = {s.provenance.origin: s for s in assert_valid_dataset(out).samples}
    tall, short = 425 / 42, 333 / 43
    assert [(i.category, i.box) for i in by_name["000000000785.jpg"].instances] == [
        ("person", pytest.approx((80, 9 * tall, 160, 16 * tall), abs=1e-3)),
        ("car", pytest.approx((80, 9 * tall, 160, 16 * tall), abs=1e-3)),
        ("person", pytest.approx((140, 9 * tall, 160, 16 * tall), abs=1e-3)),
        ("car", pytest.approx((560, 29 * tall, 80, 425 - 29 * tall), abs=1e-3)),
    ]  # fmt: skip
    assert by_name["000000040083.jpg"].instances[0].box == pytest.approx((62.5, 10 * short, 125, 16 * short), abs=1e-3)


def rounded_block(top, bottom, left, right):
    """A 64x128 mask: the block, each corner cut by the 6-pixel triangle that bilinear upsampling of a
    +1 / -1 step rounds away (ultralytics' masks are upsampled bilinearly too)."""
    mask = np.zeros((64, 128), bool)
    mask[top:bottom, left:right] = True
    rows, columns = np.mgrid[top:bottom, left:right]
    near = np.minimum(rows - top, bottom - 1 - rows) + np.minimum(columns - left, right - 1 - columns)
    mask[top:bottom, left:right] &= near >= 3
    return mask


@pytest.mark.parametrize("build", [tiny_yolo_onnx, tiny_yolo_torch_onnx], ids=["onnx-helper", "torch-export"])
def test_segmentation_head_gives_exact_masks_on_the_photo(build, photos, tmp_path):
    protos = np.full((1, 32, 16, 16), -1.0, np.float32)
    protos[0, 0, 6:9, 2:6] = 1.0  # input rows 24..36, columns 8..24: photo rows 16..40, columns 16..48
    coefficients = np.eye(32, dtype=np.float32)
    rows = [
        (0, 16, 64, 48, 0.9, 0.0, *coefficients[0]),  # person: the fixed block
        (0, 16, 64, 48, 0.0, 0.8, *coefficients[31]),  # car: the red part of the photo
        (0, 16, 8, 24, 0.7, 0.0, *np.zeros(32)),  # an empty mask: dropped, as ultralytics does
    ]
    model = build(tmp_path / "seg.onnx", head(rows), protos)
    detector = make_detector("yolo", weights=model, threshold=0.3)
    assert detector.task == "segment" and detector.describe()["input_size"] == [64, 64]
    instances = detector.predict([read_photo(photos, "wide.png")])[0]
    block, red = rounded_block(16, 40, 16, 48), rounded_block(24, 48, 64, 96)
    assert [(i.category, i.score, i.box) for i in instances] == [
        ("person", pytest.approx(0.9), (16.0, 16.0, 32.0, 24.0)), ("car", pytest.approx(0.8), (64.0, 24.0, 32.0, 24.0)),
    ]  # fmt: skip
    assert np.array_equal(decode_mask(instances[0].mask), block)
    assert np.array_equal(decode_mask(instances[1].mask), red)


def test_end_to_end_head_needs_no_nms(photos, tmp_path):
    rows = np.array([[[8, 20, 24, 36, 0.9, 1], [9, 20, 25, 36, 0.8, 1], [0, 0, 8, 8, 0.1, 0]]], np.float32)
    model = tiny_yolo_onnx(tmp_path / "e2e.onnx", rows, end2end=True)
    instances = make_detector("yolo", weights=model, threshold=0.3).predict([read_photo(photos, "wide.png")])[0]
    assert [(i.category, i.box) for i in instances] == [("car", (16.0, 8.0, 32.0, 32.0)), ("car", (18.0, 8.0, 32.0, 32.0))]


def test_bad_models_and_class_names_get_one_line_errors(photos, tmp_path):
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"\x00not a model")
    with pytest.raises(PrelabelError, match=r"model.onnx: not a readable ONNX model: "):
        make_detector("yolo", weights=not_onnx)
    with pytest.raises(PrelabelError, match=r"--weights: .*missing.onnx does not exist"):
        make_detector("yolo", weights=tmp_path / "missing.onnx")
    with pytest.raises(PrelabelError, match=r"--detector yolo: needs --weights"):
        make_detector("yolo")
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(PrelabelError, match=r"--device cuda:1: this onnxruntime has no CUDA \(install onnxruntime-gpu\)"):
            make_detector("yolo", weights=tiny_yolo_onnx(tmp_path / "yolo.onnx", DETECTIONS), device="cuda:1")
    classifier = tiny_yolo_onnx(tmp_path / "classifier.onnx", np.zeros((1, 2), np.float32))
    with pytest.raises(PrelabelError, match=r"classifier.onnx: outputs: expected a YOLO head \(1, 4\+nc, N\).* \(got \[\[1, 2\]\]\)"):
        make_detector("yolo", weights=classifier)
    batched = tiny_yolo_onnx(tmp_path / "batched.onnx", np.concatenate([DETECTIONS] * 8), batch=8)
    with pytest.raises(PrelabelError, match=r"batched.onnx: input: expected an image batch \(1, 3, H, W\), exported with batch=1"):
        make_detector("yolo", weights=batched)
    import onnx

    for key, value, message in [
        ("names", "['person'", r"metadata.names: expected a dict of class index -> name \(got \"\['person'\"\)"),
        ("imgsz", "[64]", r"metadata.imgsz: expected \[height, width\] \(got '\[64\]'\)"),
    ]:
        broken = onnx.load(str(tiny_yolo_onnx(tmp_path / "broken.onnx", DETECTIONS, dynamic=True)))
        next(p for p in broken.metadata_props if p.key == key).value = value
        onnx.save(broken, str(tmp_path / "broken.onnx"))
        with pytest.raises(PrelabelError, match="broken.onnx: " + message):
            make_detector("yolo", weights=tmp_path / "broken.onnx")
    bare = tiny_yolo_onnx(tmp_path / "bare.onnx", DETECTIONS, metadata=False)
    with pytest.raises(PrelabelError, match=r"bare.onnx: no class names in its metadata; name its classes in order with --classes"):
        make_detector("yolo", weights=bare)
    named = make_detector("yolo", weights=bare, classes={"cone": ["cone"], "box": ["box"]}, threshold=0.3)
    assert [i.category for i in named.predict([read_photo(photos, "wide.png")])[0]] == ["cone", "box", "cone", "box"]
    with pytest.raises(PrelabelError, match=r"--classes: bus not among the model's classes \(person, car\)"):
        make_detector("yolo", weights=tiny_yolo_onnx(tmp_path / "yolo.onnx", DETECTIONS), classes={"bus": ["bus"]})
    three = tiny_yolo_onnx(tmp_path / "three.onnx", DETECTIONS, names=("a", "b", "c"))
    run = invoke("prelabel", photos, "-o", tmp_path / "out", "--detector", "yolo", "--weights", three)
    assert run.exit_code == 1
    assert run.output == "error: " + str(three) + ": outputs: expected (1, 7, N) for 3 classes and 0 mask coefficients (got (1, 6, 6))\n"
    assert not (tmp_path / "out").exists()


def random_model(path, rng, segment):
    """A 96x128 input, 120 random candidates (many overlapping), 2 classes; random prototypes."""
    boxes = np.concatenate([rng.uniform(0, 60, (120, 2)), rng.uniform(60, 128, (120, 2))], 1)  # x0, y0, x1, y1
    boxes[:, [1, 3]] *= 0.75
    scores = rng.uniform(0, 1, (120, 2)) ** 3
    extra = [rng.normal(0, 1, (120, 32))] if segment else []
    protos = rng.normal(0, 1, (1, 32, 24, 32)) if segment else None
    return tiny_yolo_onnx(path, head(np.concatenate([boxes, scores, *extra], 1)), protos, size=(96, 128))


# ultralytics' reference post-processing, run in its own process: importing ultralytics patches
# other libraries (logging, printing) and would change what later tests see.
ULTRALYTICS = """
import sys, numpy as np, torch
from ultralytics.data.augment import LetterBox
from ultralytics.utils import nms, ops
data, out = np.load(sys.argv[1]), {}
for key in sorted(k[:-4] for k in data if k.endswith("_rgb")):
    rgb, raw = data[key + "_rgb"], torch.from_numpy(data[key + "_raw"])
    out[key + "_pixels"] = LetterBox((96, 128), auto=False)(image=np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]
    kept = nms.non_max_suppression(raw, 0.25, 0.7, nc=2)[0]
    kept[:, :4] = ops.scale_boxes((96, 128), kept[:, :4], rgb.shape)
    if key + "_protos" in data:
        masks = ops.process_mask_native(torch.from_numpy(data[key + "_protos"][0]), kept[:, 6:], kept[:, :4], rgb.shape[:2])
        kept, masks = kept[masks.amax((1, 2)) > 0], masks[masks.amax((1, 2)) > 0]
        out[key + "_masks"] = masks.numpy().astype(bool)
    out[key + "_kept"] = kept.numpy()
np.savez(sys.argv[2], **out)
"""


def ultralytics_reference(inputs, tmp_path):
    """ultralytics' letterbox, NMS, scale_boxes and process_mask_native on the same raw outputs."""
    import subprocess
    import sys

    np.savez(tmp_path / "raw.npz", **inputs)
    env = {"YOLO_CONFIG_DIR": str(tmp_path / "ultralytics"), "YOLO_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", ULTRALYTICS, tmp_path / "raw.npz", tmp_path / "theirs.npz"], check=True, env=env)
    return np.load(tmp_path / "theirs.npz")


@pytest.mark.parametrize("segment", [False, True])
def test_postprocessing_matches_ultralytics_on_the_same_raw_outputs(segment, tmp_path):
    import importlib.util

    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed")
    detector = make_detector("yolo", weights=random_model(tmp_path / "m.onnx", np.random.default_rng(7), segment), threshold=0.25)
    photos, inputs = {}, {}
    for index, name in enumerate(list_photos(COCO_PERSON)):
        photos[f"p{index}"] = photo = read_photo(COCO_PERSON, name)
        box, raw, protos = detector.raw_outputs(photo)
        inputs |= {f"p{index}_rgb": np.asarray(photo.image), f"p{index}_raw": raw}
        inputs |= {f"p{index}_protos": protos} if segment else {}
    theirs, compared = ultralytics_reference(inputs, tmp_path), 0
    for key, photo in photos.items():
        box = detector.raw_outputs(photo)[0]
        assert np.array_equal(box.apply(np.asarray(photo.image)), theirs[key + "_pixels"])
        ours, kept = detector.predict([photo])[0], theirs[key + "_kept"]
        assert [i.category for i in ours] == [detector.names[int(c)] for c in kept[:, 5]]
        assert [i.score for i in ours] == pytest.approx(kept[:, 4].tolist(), abs=1e-6)
        if segment:
            for instance, mask in zip(ours, theirs[key + "_masks"], strict=True):
                mine = decode_mask(instance.mask)
                assert (mine & mask).sum() / (mine | mask).sum() >= 0.999
        else:
            boxes = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in kept[:, :4].tolist()]
            assert [i.box for i in ours] == [pytest.approx(b, abs=1e-3) for b in boxes]
        compared += len(ours)
    assert compared > 20
