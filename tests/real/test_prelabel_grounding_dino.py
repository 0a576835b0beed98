"""Grounding DINO: a tiny random model with an offline-built BERT tokenizer, saved and loaded back by
path, pre-labelling the real COCO photos; prompts come from class names and synonyms as for OWLv2."""

import pytest
from detector_models import tiny_grounding_dino
from helpers import assert_valid_dataset, invoke
from paths import COCO_PERSON

from synthgen.real.prelabel import PrelabelError, make_detector, parse_classes
from synthgen.real.prelabel.folder import list_photos, read_photo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

CLASSES = "person=human|pedestrian,car=lift truck"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_grounding_dino(tmp_path_factory.mktemp("gdino") / "model")


def expected(processor, network, photo, threshold):
    """The instances worked out independently: each prompt tokenised alone and laid out as
    [CLS] prompt . prompt . ... [SEP]; a box's class is that of its best-scoring prompt token."""
    prompts = [("person", "person"), ("person", "human"), ("person", "pedestrian"), ("car", "car"), ("car", "lift truck")]
    positions, start = [], 1
    for _, text in prompts:
        count = len(processor.tokenizer(text, add_special_tokens=False)["input_ids"])
        positions.append(range(start, start + count))
        start += count + 1  # the full stop
    inputs = processor(images=[photo.image], text=["person. human. pedestrian. car. lift truck."], return_tensors="pt")
    with torch.no_grad():
        outputs = network(**inputs)
    found = []
    for logits, (cx, cy, w, h) in zip(outputs.logits[0].sigmoid().tolist(), outputs.pred_boxes[0].tolist()):
        best = max(range(len(prompts)), key=lambda p: max(logits[i] for i in positions[p]))
        score = max(logits[i] for i in positions[best])
        width, height = photo.image.size
        x0, y0 = max((cx - w / 2) * width, 0), max((cy - h / 2) * height, 0)
        x1, y1 = min((cx + w / 2) * width, width), min((cy + h / 2) * height, height)
        by_class = {}  # a class scores as its best prompt token; those under 0.01 (but the box's own) are left out
        for (name, _), tokens in zip(prompts, positions):
            by_class[name] = max(by_class.get(name, 0.0), *(logits[i] for i in tokens))
        kept = {name: value for name, value in by_class.items() if value >= 0.01 or name == prompts[best][0]}
        if score >= threshold and x1 > x0 and y1 > y0:
            found.append((prompts[best][0], score, (x0, y0, x1 - x0, y1 - y0), kept))
    return found


def test_grounding_dino_prelabels_the_real_photos_by_prompt(model, tmp_path):
    out = tmp_path / "real"
    run = invoke(
        "prelabel", COCO_PERSON, "-o", out, "--detector", "grounding-dino", "--model", model, "--classes", CLASSES,
        "--threshold", "0.45", "--batch-size", "1",
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    assert dataset.class_names == ["person", "car"]
    assert [s.file_name for s in dataset.samples] == [f"images/{name}" for name in list_photos(COCO_PERSON)]
    provenance = dataset.samples[0].provenance
    assert provenance.model_ids["detector"] == "grounding-dino" and provenance.model_ids["model"] == str(model)
    assert len(provenance.model_ids["weights_sha256"]) == 64
    total, several, processor = 0, 0, transformers.GroundingDinoProcessor.from_pretrained(model)
    network = transformers.GroundingDinoForObjectDetection.from_pretrained(model).eval()
    for sample in dataset.samples:
        want = expected(processor, network, read_photo(COCO_PERSON, sample.provenance.origin), 0.45)
        assert [i.category for i in sample.instances] == [c for c, _, _, _ in want]
        assert [(*i.box, i.score) for i in sample.instances] == [pytest.approx((*b, s), abs=1e-4) for _, s, b, _ in want]
        assert [i.attributes["class_scores"] for i in sample.instances] == [pytest.approx(c, abs=1e-5) for _, _, _, c in want]
        assert all(i.attributes["class_scores"][i.category] == round(i.score, 6) for i in sample.instances)
        total += len(want)
        several += sum(len(c) == 2 for _, _, _, c in want)
    assert 0 < total < 40  # some of the 10 queries per photo pass 0.45, not all
    assert 0 < several < total  # some boxes score both classes, some only their own
    detector = make_detector("grounding-dino", model=str(model), classes=parse_classes(CLASSES), threshold=0.45)
    assert detector.caption == "person. human. pedestrian. car. lift truck."
    assert detector.describe()["prompts"] == ["person", "human", "pedestrian", "car", "lift truck"]


def test_grounding_dino_bad_model_folder_and_too_many_prompts(model, tmp_path):
    with pytest.raises(PrelabelError, match=r"--model: cannot load grounding-dino from '.*empty'"):
        (tmp_path / "empty").mkdir()
        make_detector("grounding-dino", model=str(tmp_path / "empty"), classes=parse_classes("cat"))
    with pytest.raises(PrelabelError, match=r"--detector grounding-dino: needs --model and --classes"):
        make_detector("grounding-dino", model=str(model))
    many = ",".join(f"c{i}" for i in range(200))
    with pytest.raises(PrelabelError, match=r"--classes: the prompts make 402 tokens; Grounding DINO reads at most 256"):
        make_detector("grounding-dino", model=str(model), classes=parse_classes(many))
