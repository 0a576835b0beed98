"""Mixing real and synthetic datasets: names, quotas, splits, duplicates, provenance, determinism."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mixing_helpers import REAL_COCO, load_json, render_provenance, tree_bytes, write_dataset
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from synthgen.errors import InputError
from synthgen.formats.check import check_dataset
from synthgen.formats.folder import load_dataset
from synthgen.labels import Provenance, normalise_name
from synthgen.mix.mix import MixError, MixOptions, mix, pixel_digest

REAL_IMAGES = [["Pallet", "person"]] * 10 + [["person"]] * 8 + [["forklift", "person"]] * 2


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    """Real (class ids: Pallet=1, forklift=2, person=3) and two synthetic sets with other ids and spellings."""
    real = write_dataset(tmp_path / "real", ["Pallet", "forklift", "person"], REAL_IMAGES, Provenance(source="import"), seed=1)
    forklift = write_dataset(tmp_path / "synth_forklift", ["Forklift ", "pallet"], [["Forklift ", "Forklift "]] * 30, render_provenance("forklift"), seed=2)
    pallet = write_dataset(tmp_path / "synth_pallet", ["pallet", "  FORKLIFT"], [["pallet"]] * 10, render_provenance("pallet"), seed=3)
    return [str(real), str(forklift), str(pallet)]


def split_counts(folder: Path) -> Counter:
    return Counter(i.category for s in load_dataset(folder).samples for i in s.instances)


def test_mix_merges_classes_by_name_and_meets_quotas(inputs, tmp_path):
    plan = mix(inputs, tmp_path / "out", MixOptions(min_per_class=20, val_fraction=0.2, seed=0))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train", "val"]
    train, val = load_dataset(out / "train"), load_dataset(out / "val")
    assert train.class_names == val.class_names == ["pallet", "forklift", "person"]
    for dataset in (train, val):
        for sample in dataset.samples:
            for instance in sample.instances:
                assert instance.category == normalise_name(instance.attributes["truth"])
    val_counts = split_counts(out / "val")
    assert (val_counts["forklift"], val_counts["person"]) == (1, 4) and val_counts["pallet"] in (2, 3)
    real_pallets = 10 - val_counts["pallet"]
    assert split_counts(out / "train") == {"forklift": 21, "pallet": real_pallets + 10, "person": 16}
    kinds = Counter(s.provenance.extra["kind"] for s in train.samples)
    assert kinds == {"real": 16, "synthetic": 20}
    assert {s.provenance.extra["kind"] for s in val.samples} == {"real"}
    assert {name: (s.have, s.need, s.reason) for name, s in plan.shortfalls.items()} == {
        "pallet": (real_pallets + 10, 20, "no more synthetic images of it"),
        "person": (16, 20, "no more synthetic images of it"),
    }
    manifest = load_json(out / "manifest.json")
    assert manifest["splits"]["train"]["instances"]["forklift"] == {"total": 21, "real": 1, "synthetic": 20}
    assert manifest["shortfalls"]["person"] == {"have": 16, "need": 20, "reason": "no more synthetic images of it"}


def test_no_image_in_two_splits_and_synthetic_only_in_train(inputs, tmp_path):
    mix(inputs, tmp_path / "out", MixOptions(min_per_class=20, val_fraction=0.3, test_fraction=0.2, seed=3))
    digests = {}
    for split in ("train", "val", "test"):
        dataset = load_dataset(tmp_path / "out" / split)
        digests[split] = {pixel_digest(tmp_path / "out" / split / s.file_name) for s in dataset.samples}
        assert len(digests[split]) == len(dataset.samples)
        if split != "train":
            assert all(s.provenance.source == "import" for s in dataset.samples)
    assert not digests["train"] & digests["val"] and not digests["train"] & digests["test"] and not digests["val"] & digests["test"]
    assert (len(digests["val"]), len(digests["test"])) == (6, 4)


def test_provenance_names_input_and_keeps_recipe(inputs, tmp_path):
    mix(inputs, tmp_path / "out", MixOptions(min_per_class=20, seed=0))
    synthetic = [s for s in load_dataset(tmp_path / "out" / "train").samples if s.provenance.source == "render"]
    first = synthetic[0].provenance
    assert first.backend == "blender" and first.seed == 7 and first.recipe_hash in ("hash-forklift", "hash-pallet")
    assert first.extra["input"] in inputs[1:] and first.extra["input_file"].startswith("images/")
    assert first.extra["kind"] == "synthetic"
    source = Path(first.extra["input"]) / first.extra["input_file"]
    assert pixel_digest(source) == pixel_digest(tmp_path / "out" / "train" / synthetic[0].file_name)


def test_same_seed_same_bytes_other_seed_other_split(inputs, tmp_path):
    options = dict(min_per_class=20, val_fraction=0.2, max_synthetic_share=0.5)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        mix(inputs, tmp_path / name, MixOptions(seed=seed, formats=("coco", "yolo"), **options))
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert tree_bytes(tmp_path / "a") != tree_bytes(tmp_path / "c")


def test_synthetic_share_cap(inputs, tmp_path):
    plan = mix(inputs, tmp_path / "out", MixOptions(min_per_class=20, max_synthetic_share=0.5, seed=0))
    kinds = Counter(item.kind for item in plan.splits["train"])
    assert kinds == {"real": 16, "synthetic": 16}
    assert {name: s.reason for name, s in plan.shortfalls.items()}["forklift"] == "synthetic share cap"


def test_without_quota_all_synthetic_images_go_to_train(inputs, tmp_path):
    plan = mix(inputs, tmp_path / "out", MixOptions(seed=0))
    assert Counter(item.kind for item in plan.splits["train"]) == {"real": 16, "synthetic": 40}
    assert plan.shortfalls == {}


def test_output_passes_strict_check_and_pycocotools(inputs, tmp_path):
    mix([*inputs, str(REAL_COCO)], tmp_path / "out", MixOptions(min_per_class=20, seed=0))
    for split in ("train", "val"):
        folder = tmp_path / "out" / split
        report = check_dataset(folder)
        assert report.ok, report.problems
        with contextlib.redirect_stdout(io.StringIO()):
            truth = COCO(str(folder / "annotations.json"))
            detections = truth.loadRes([{**a, "score": 1.0} for a in truth.dataset["annotations"]])
            for kind in ("bbox", "segm"):
                evaluation = COCOeval(truth, detections, kind)
                evaluation.evaluate(), evaluation.accumulate(), evaluation.summarize()
                assert evaluation.stats[0] == pytest.approx(1.0)
    persons = split_counts(tmp_path / "out" / "train")["person"] + split_counts(tmp_path / "out" / "val")["person"]
    assert persons == 20 + 14


def test_rename_and_keep_subset(inputs, tmp_path):
    mix(inputs, tmp_path / "out", MixOptions(rename={"pallet": "skid"}, keep=["Skid", "forklift"], seed=0))
    train = load_dataset(tmp_path / "out" / "train")
    assert train.class_names == ["skid", "forklift"]
    assert split_counts(tmp_path / "out" / "train") + split_counts(tmp_path / "out" / "val") == {"skid": 20, "forklift": 62}


@pytest.mark.parametrize(
    "options, message",
    [
        (MixOptions(rename={"crate": "box"}), "--map: unknown class 'crate'; known: pallet, forklift, person"),
        (MixOptions(keep=["crate"]), "--classes: unknown class 'crate'; known: pallet, forklift, person"),
        (MixOptions(val_fraction=1.5), "--val-fraction: must be in [0, 1), got 1.5"),
        (MixOptions(max_synthetic_share=2), "--max-synthetic-share: must be in [0, 1], got 2"),
    ],
)
def test_bad_options_fail_and_write_nothing(inputs, tmp_path, options, message):
    with pytest.raises(MixError) as error:
        mix(inputs, tmp_path / "out", options)
    assert str(error.value) == message
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))


def test_duplicates_are_kept_once(tmp_path):
    first = write_dataset(tmp_path / "a", ["cat"], [["cat"]] * 4, Provenance(source="import"), seed=1)
    second = write_dataset(tmp_path / "b", ["cat"], [["cat"]] * 3, Provenance(source="human"), seed=2)
    shutil.copyfile(first / "images/000000.png", second / "images/000000.png")
    with Image.open(first / "images/000001.png") as image:  # same pixels, other bytes
        image.save(second / "images/000001.png", compress_level=0)
    assert (first / "images/000001.png").read_bytes() != (second / "images/000001.png").read_bytes()
    plan = mix([str(first), str(second)], tmp_path / "out", MixOptions(val_fraction=0.4, seed=0))
    assert sorted(plan.duplicates) == [(f"{second}: images/000000.png", f"{first}: images/000000.png"),
                                       (f"{second}: images/000001.png", f"{first}: images/000001.png")]
    assert sum(len(items) for items in plan.splits.values()) == 5
    assert len(load_json(tmp_path / "out" / "manifest.json")["duplicates"]) == 2


def test_inputs_unchanged_and_links(inputs, tmp_path):
    before = {spec: tree_bytes(Path(spec)) for spec in inputs}
    mix(inputs, tmp_path / "sym", MixOptions(link="symlink", seed=0))
    mix(inputs, tmp_path / "hard", MixOptions(link="hardlink", seed=0))
    assert {spec: tree_bytes(Path(spec)) for spec in inputs} == before
    image = next((tmp_path / "sym" / "train" / "images").iterdir())
    assert image.is_symlink() and image.resolve().is_relative_to(tmp_path)
    hard = next((tmp_path / "hard" / "train" / "images").iterdir())
    assert not hard.is_symlink() and hard.stat().st_nlink == 2


@pytest.mark.parametrize("file_name", ["../outside.png", "/etc/passwd", "images/../../x.png"])
def test_file_names_escaping_the_root_are_refused(inputs, tmp_path, file_name):
    data = load_json(Path(inputs[0]) / "annotations.json")
    data["images"][3]["file_name"] = file_name
    bad = tmp_path / "bad.json"
    bad.write_text(__import__("json").dumps(data))
    with pytest.raises(InputError) as error:
        mix([f"{bad}::{inputs[0]}"], tmp_path / "out", MixOptions())
    assert str(error.value).startswith(f"{bad}::{inputs[0]}: images[3].file_name: {file_name!r} leaves the image root")
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused(inputs, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="output folder already exists"):
        mix(inputs, tmp_path / "out", MixOptions())


def test_missing_image_fails_without_output(inputs, tmp_path):
    (Path(inputs[2]) / "images/000004.png").unlink()
    with pytest.raises(MixError, match=r"synth_pallet/images/000004.png: image file not found"):
        mix(inputs, tmp_path / "out", MixOptions())
    assert not (tmp_path / "out").exists()


def test_rare_class_reaches_validation_for_every_seed(tmp_path):
    images = [["common"]] * 40 + [["rare", "common"]] * 2
    real = write_dataset(tmp_path / "real", ["common", "rare"], images, Provenance(source="import"), seed=1)
    for seed in range(5):
        plan = mix([str(real)], tmp_path / f"out{seed}", MixOptions(val_fraction=0.1, seed=seed))
        val = Counter(name for item in plan.splits["val"] for name in item.classes.elements())
        assert val["rare"] == 1 and len(plan.splits["val"]) == 4


def test_pixel_digest_ignores_encoding(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "b.bmp")
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(tmp_path / "c.png")
    assert pixel_digest(tmp_path / "a.png") == pixel_digest(tmp_path / "b.bmp") != pixel_digest(tmp_path / "c.png")


def test_unreadable_image_fails_without_output(inputs, tmp_path):
    (Path(inputs[1]) / "images/000002.png").write_bytes(b"not a png")
    with pytest.raises(MixError, match=r"synth_forklift/images/000002.png: unreadable image"):
        mix(inputs, tmp_path / "out", MixOptions())
    assert not (tmp_path / "out").exists()
