"""OWLv2 / OWL-ViT: a tiny random model and an offline-built processor, saved and loaded back by path."""


import pytest
from detector_models import tiny_open_vocab_model
from executor_helpers import synthgen
from helpers import assert_valid_dataset
from PIL import Image
from typer.testing import CliRunner

from synthgen.cli import app as synthgen_app
from synthgen.real.prelabel import PrelabelError, make_detector, parse_classes

transformers = pytest.importorskip("transformers")


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "yard").mkdir(parents=True)
    Image.new("RGB", (48, 32), (200, 40, 40)).save(folder / "a.png")
    Image.new("RGB", (30, 60), (40, 40, 200)).save(folder / "yard" / "b.jpg")
    return folder


@pytest.mark.parametrize("family", ["owlv2", "owlvit"])
def test_open_vocab_prelabels_by_prompt_from_a_saved_folder(family, photos, tmp_path):
    model = tiny_open_vocab_model(tmp_path / family, family)
    out = tmp_path / "real"
    app = synthgen_app
    run = CliRunner().invoke(app, [
        "prelabel", str(photos), "-o", str(out), "--detector", family, "--model", str(model),
        "--classes", "forklift=lift truck|fork lift,pallet jack", "--threshold", "0.4", "--batch-size", "2",
    ])  # fmt: skip
    assert run.exit_code == 0, run.output
    dataset = assert_valid_dataset(out)
    assert dataset.class_names == ["forklift", "pallet jack"]
    assert [s.file_name for s in dataset.samples] == ["images/a.png", "images/yard/b.jpg"]
    instances = [i for s in dataset.samples for i in s.instances]
    assert instances and all(i.score >= 0.4 for i in instances)
    provenance = dataset.samples[0].provenance
    assert provenance.model_ids["detector"] == family and provenance.model_ids["model"] == str(model)
    assert len(provenance.model_ids["weights_sha256"]) == 64
    # the same photos through the Python API give the same labels, and a higher threshold fewer
    detector = make_detector(family, model=str(model), classes=parse_classes("forklift=lift truck|fork lift,pallet jack"), threshold=0.4)
    assert detector.texts == ["forklift", "lift truck", "fork lift", "pallet jack"]
    strict = make_detector(family, model=str(model), classes=parse_classes("forklift,pallet jack"), threshold=0.6)
    from synthgen.real.prelabel.folder import read_photo

    photo = read_photo(photos, "a.png")
    # The command ran photos in batches of two, the API one at a time: CPU kernels round differently
    # by batch size (about 1e-7), so classes match exactly and boxes and scores to 1e-5.
    alone, batched = detector.predict([photo])[0], dataset.samples[0].instances
    assert [i.category for i in alone] == [i.category for i in batched]
    assert [(*i.box, i.score) for i in alone] == [pytest.approx((*i.box, i.score), rel=1e-5, abs=1e-5) for i in batched]
    assert len(strict.predict([photo])[0]) < len(dataset.samples[0].instances)


def test_prelabel_into_a_pipe_prints_no_model_loading_bars(photos, tmp_path):
    """transformers draws a "Loading weights" bar on stderr; through a pipe (a log, CI) none is printed."""
    model = tiny_open_vocab_model(tmp_path / "owlv2", "owlv2")
    done = synthgen("prelabel", str(photos), "-o", str(tmp_path / "real"), "--detector", "owlv2", "--model", str(model),
                    "--classes", "forklift", "--threshold", "0.4")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "it/s" not in done.stderr, done.stderr


def test_open_vocab_needs_model_and_classes_and_a_loadable_folder(tmp_path):
    with pytest.raises(PrelabelError, match="--detector owlv2: needs --model and --classes"):
        make_detector("owlv2", classes=parse_classes("cat"))
    with pytest.raises(PrelabelError, match="--model: cannot load owlv2 from"):
        make_detector("owlv2", model=str(tmp_path), classes=parse_classes("cat"))


def test_classes_file_and_synonyms(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("forklift = fork lift | lift truck\n\npallet jack\n")
    assert parse_classes("cone", classes) == {
        "cone": ["cone"], "forklift": ["forklift", "fork lift", "lift truck"], "pallet jack": ["pallet jack"],
    }  # fmt: skip
    with pytest.raises(PrelabelError, match="--classes: 'cone' is given twice"):
        parse_classes("cone,cone")


def test_open_vocab_boxes_keep_each_class_s_best_prompt_score(photos, tmp_path):
    """Worked out from the model's raw logits: a class scores as the best of its prompts."""
    import torch

    from synthgen.real.prelabel.folder import read_photo

    model = tiny_open_vocab_model(tmp_path / "owlv2", "owlv2")
    texts = ["forklift", "lift truck", "fork lift", "pallet jack"]
    detector = make_detector("owlv2", model=str(model), classes=parse_classes("forklift=lift truck|fork lift,pallet jack"), threshold=0.4)
    photo = read_photo(photos, "a.png")
    processor = transformers.Owlv2Processor.from_pretrained(model)
    network = transformers.Owlv2ForObjectDetection.from_pretrained(model).eval()
    with torch.no_grad():
        scores = network(**processor(text=[texts], images=[photo.image], return_tensors="pt")).logits[0].sigmoid().tolist()
    queries = []  # (score, class scores) of each query above the threshold; its score is its best prompt's
    for query in scores:
        if max(query) > 0.4:
            by_class = {"forklift": max(query[:3]), "pallet jack": query[3]}
            queries.append((max(query), {n: v for n, v in by_class.items() if v >= 0.01 or v == max(query)}))
    found = detector.predict([photo])[0]  # the queries whose box is not empty on the photo
    assert 0 < len(found) <= len(queries)
    for instance in found:
        (_, want), = [(score, c) for score, c in queries if abs(score - instance.score) < 1e-6]
        assert instance.attributes["class_scores"] == pytest.approx(want, abs=1e-5)
        assert instance.attributes["class_scores"][instance.category] == round(instance.score, 6)
