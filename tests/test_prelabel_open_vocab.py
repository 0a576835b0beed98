"""OWLv2 / OWL-ViT: a tiny random model and an offline-built processor, saved and loaded back by path."""

import json

import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from helpers import assert_valid_dataset
from synthgen.cli_real import register
from synthgen.prelabel import PrelabelError, make_detector, parse_classes

transformers = pytest.importorskip("transformers")


def tiny_open_vocab_model(folder, family):
    """A random model with 16-wide layers, a character-level CLIP tokenizer, 32 px images."""
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}  # OWL masks queries whose first id is 0
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    text = dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=8)  # fmt: skip
    if family == "owlv2":
        config = transformers.Owlv2Config(text_config=text, vision_config=vision, projection_dim=16)
        model, images = transformers.Owlv2ForObjectDetection, transformers.Owlv2ImageProcessor(size={"height": 32, "width": 32})
        processor = transformers.Owlv2Processor(image_processor=images, tokenizer=tokenizer)
    else:
        config = transformers.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=16)
        images = transformers.OwlViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
        model, processor = transformers.OwlViTForObjectDetection, transformers.OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    torch.manual_seed(0)
    model = model(config)
    with torch.no_grad():  # logits = cosine similarity, so sigmoid scores lie in (0.27, 0.73)
        for layer in (model.class_head.logit_shift, model.class_head.logit_scale):
            layer.weight.zero_()
            layer.bias.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


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
    app = typer.Typer()
    register(app)
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
    from synthgen.prelabel.folder import read_photo

    photo = read_photo(photos, "a.png")
    assert [(i.category, i.box, i.score) for i in detector.predict([photo])[0]] == [
        (i.category, i.box, i.score) for i in dataset.samples[0].instances
    ]
    assert len(strict.predict([photo])[0]) < len(dataset.samples[0].instances)


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
