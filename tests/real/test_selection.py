"""Which images a person sees: entropy, margin, disagreement, diversity and their combinations."""

import json
import math

import numpy as np
import pytest
from helpers import invoke, make_shapes_dataset
from review_helpers import RESULTS

from synthgen.fileio import atomic_write_png
from synthgen.formats.folder import load_dataset, write_labels
from synthgen.labels import Dataset, Instance, Provenance, Sample, categories_from_names
from synthgen.real.selection import (
    SelectionError,
    disagreement,
    instance_entropy,
    instance_margin,
    parse_strategy,
    select,
    thumbnail_embedder,
)  # fmt: skip

COLOURS = {"red": (200, 30, 30), "orange": (200, 140, 30), "blue": (30, 30, 200)}


def coloured_dataset(folder, images, reviewed=()):
    """Tiny 8x8 photos of one colour each, one pre-label each with the given score. Blue is far from
    red, orange nearer; photos of one colour are identical (ties go to the earlier image)."""
    samples = []
    for index, (colour, score) in enumerate(images):
        pixels = np.full((8, 8, 3), COLOURS[colour], dtype=np.uint8)
        name = f"images/{index:02d}-{colour}.png"
        atomic_write_png(folder / name, pixels)
        source = "human" if index in reviewed else "prelabel"
        instance = Instance("thing", (1, 1, 4, 4), 16, score=None if index in reviewed else score)
        samples.append(Sample(name, 8, 8, [instance], Provenance(source=source, extra={"reviewed": index in reviewed})))
    write_labels(Dataset(categories_from_names(["thing"]), samples, root=str(folder)), folder)
    return load_dataset(folder)


def names(selected):
    return [item.sample.file_name for item in selected]


def test_strategies_parse_and_refuse_unknown_names():
    assert parse_strategy("uncertainty+diversity") == ["uncertainty", "diversity"]
    with pytest.raises(SelectionError, match=r"^--strategy: unknown strategy 'luck'; use uncertainty, entropy, margin, "
                                             r"disagreement, diversity joined by '\+'$"):  # fmt: skip
        parse_strategy("uncertainty+luck")
    with pytest.raises(SelectionError, match="names a strategy twice"):
        parse_strategy("margin+margin")


def test_entropy_and_margin_use_class_scores_where_the_detector_gives_them():
    def binary(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)

    sure, coin = Instance("a", (0, 0, 1, 1), 1, score=0.9), Instance("a", (0, 0, 1, 1), 1, score=0.5)
    assert instance_entropy(sure) == pytest.approx(binary(0.9)) and instance_entropy(coin) == pytest.approx(1.0)
    assert instance_margin(sure) == pytest.approx(0.2) and instance_margin(coin) == pytest.approx(1.0)
    spread = Instance("a", (0, 0, 1, 1), 1, score=0.5, attributes={"class_scores": {"a": 0.5, "b": 0.3}})
    expected = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    assert instance_entropy(spread) == pytest.approx(expected)
    assert instance_margin(spread) == pytest.approx(0.8)
    assert instance_entropy(Instance("a", (0, 0, 1, 1), 1)) == 0.0  # a person's label is certain


def test_disagreement_counts_unmatched_and_low_iou_boxes():
    mine = [Instance("a", (0, 0, 10, 10), 100), Instance("a", (20, 0, 10, 10), 100), Instance("b", (40, 0, 5, 5), 25)]
    theirs = [Instance("a", (0, 0, 10, 10), 100), Instance("a", (25, 0, 10, 10), 100), Instance("a", (40, 0, 5, 5), 25)]
    score, counts = disagreement(mine, theirs)
    assert score == pytest.approx(1 - 2 * (1 + 50 / 150) / 6)  # the class-b box and its class-a twin do not match
    assert counts == {"unmatched": 2, "low_iou": 1}
    assert disagreement([], []) == (0.0, {"unmatched": 0, "low_iou": 0})


def test_disagreement_between_two_detectors_through_the_cli(coco_person, tmp_path):
    datasets = {}
    for threshold in ("0.3", "0.7"):
        out = tmp_path / f"real-{threshold}"
        run = invoke("prelabel", coco_person, "-o", out, "--from-results", coco_person / RESULTS,
                     "--classes", "person", "--threshold", threshold)  # fmt: skip
        assert run.exit_code == 0, run.output
        datasets[threshold] = {s.file_name: len(s.instances) for s in load_dataset(out).samples}
    run = invoke("review", "export", tmp_path / "real-0.3", "--strategy", "disagreement", "--compare",
                 tmp_path / "real-0.7", "--budget", "4", "-o", tmp_path / "review" / "tasks.json")  # fmt: skip
    assert run.exit_code == 0, run.output
    reasons = json.loads((tmp_path / "review" / "selection.json").read_text())
    # the 0.7 detector's boxes are a subset of the 0.3 one's, identical where kept
    expected = {name: 1 - 2 * datasets["0.7"][name] / (n + datasets["0.7"][name]) for name, n in datasets["0.3"].items()}
    assert sorted(r["file_name"] for r in reasons) == sorted(expected)
    assert [r["scores"]["disagreement"] for r in reasons] == [round(expected[r["file_name"]], 6) for r in reasons]
    assert [r["score"] for r in reasons] == sorted((round(v, 6) for v in expected.values()), reverse=True)
    assert [r["scores"]["unmatched"] for r in reasons] == [
        datasets["0.3"][r["file_name"]] - datasets["0.7"][r["file_name"]] for r in reasons]
    tasks = json.loads((tmp_path / "review" / "tasks.json").read_text())
    assert [t["data"]["selection"] for t in tasks] == [{k: v for k, v in r.items() if k not in ("file_name", "score")}
                                                       for r in reasons]  # fmt: skip
    run = invoke("review", "export", tmp_path / "real-0.3", "--strategy", "disagreement", "-o", tmp_path / "t.json")
    assert run.output == "error: --strategy: disagreement needs a second detector's dataset (--compare)\n"
    run = invoke("review", "export", tmp_path / "real-0.3", "--strategy", "disagreement", "--compare",
                 make_shapes_dataset(tmp_path / "shapes", 1, seed=0).root, "-o", tmp_path / "t.json")  # fmt: skip
    assert run.output == f"error: --compare: {tmp_path / 'shapes'} shares no photo with {tmp_path / 'real-0.3'}\n"


def test_diversity_covers_every_kind_of_image(tmp_path):
    dataset = coloured_dataset(tmp_path / "d", [("red", 0.5)] * 4 + [("orange", 0.9)] * 3 + [("blue", 0.99)] * 2)
    chosen = select(dataset, 3, "diversity")
    assert names(chosen) == ["images/00-red.png", "images/07-blue.png", "images/04-orange.png"]
    assert [c.reason["rank"] for c in chosen] == [1, 2, 3] and chosen[0].reason["distance"] is None
    assert chosen[1].reason["distance"] > chosen[2].reason["distance"] > 0
    assert names(select(dataset, 3, "uncertainty")) == ["images/00-red.png", "images/01-red.png", "images/02-red.png"]


def test_uncertainty_plus_diversity_picks_diverse_images_among_the_uncertain(tmp_path):
    images = [("red", 0.5), ("red", 0.52), ("orange", 0.55), ("red", 0.51), ("red", 0.6), ("orange", 0.7), ("blue", 0.99)]
    dataset = coloured_dataset(tmp_path / "d", images)
    chosen = select(dataset, 2, "uncertainty+diversity")
    assert names(chosen) == ["images/00-red.png", "images/02-orange.png"]  # blue is certain: outside the pool of 6
    assert chosen[1].reason["scores"] == {"uncertainty": 0.9} and chosen[1].score == 0.9
    assert names(select(dataset, 3, "uncertainty+diversity")) == [  # a pool of 9 holds blue, farthest from red
        "images/00-red.png", "images/06-blue.png", "images/02-orange.png"]


def test_reviewed_images_count_as_covered(tmp_path):
    dataset = coloured_dataset(tmp_path / "d", [("red", 0.5), ("red", 0.5), ("orange", 0.9), ("blue", 0.9)], reviewed={0})
    chosen = select(dataset, 3, "diversity", is_reviewed=lambda s: s.provenance.source == "human")
    assert names(chosen) == ["images/03-blue.png", "images/02-orange.png", "images/01-red.png"]
    assert chosen[0].reason["distance"] is not None


def test_thumbnail_embedding_is_deterministic_pixels(tmp_path):
    dataset = coloured_dataset(tmp_path / "d", [("red", 0.5), ("blue", 0.5), ("red", 0.5)])
    embed = thumbnail_embedder(tmp_path / "d")
    vectors = embed(dataset.samples)
    assert vectors.shape == (3, 192) and np.array_equal(vectors[0], np.tile(np.array([200, 30, 30]) / 255, 64))
    assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert np.array_equal(embed(dataset.samples), vectors)


def test_diversity_does_not_send_blank_frames_first(tmp_path):
    """Photos of faint noise and nothing else sit together, so k-center sends one of them and then the
    scenes (scaling each thumbnail to unit length once sent 3 blank frames of these 4 picks)."""
    dataset = make_shapes_dataset(tmp_path / "d", 3, seed=5, classes=["square"])
    rng, samples = np.random.default_rng(0), list(dataset.samples)
    for index in range(5):
        name = f"images/blank{index}.png"
        atomic_write_png(tmp_path / "d" / name, rng.integers(0, 80, (64, 64, 3), dtype=np.uint8))
        samples.insert(0, Sample(name, 64, 64, [], Provenance(source="prelabel")))
    write_labels(Dataset(dataset.categories, samples, root=str(tmp_path / "d")), tmp_path / "d")
    chosen = select(load_dataset(tmp_path / "d"), 4, "diversity")
    assert names(chosen) == ["images/000000.png", "images/blank3.png", "images/000002.png", "images/000001.png"]


def test_diversity_on_the_detector_s_backbone(tmp_path):
    torch = pytest.importorskip("torch")
    from synthgen.real.prelabel.torchvision_models import build_model, save_model_folder

    torch.manual_seed(0)
    arch = "fasterrcnn_mobilenet_v3_large_fpn"
    model = build_model(arch, 2, 64, 64)
    save_model_folder(model, tmp_path / "model", {"arch": arch, "classes": ["thing"], "min_size": 64, "max_size": 64})
    coloured_dataset(tmp_path / "d", [("red", 0.5), ("red", 0.5), ("orange", 0.5), ("blue", 0.5), ("red", 0.5)])
    out = tmp_path / "review" / "tasks.json"
    run = invoke("review", "export", tmp_path / "d", "--strategy", "diversity", "--embed-weights", tmp_path / "model",
                 "--budget", "3", "-o", out)  # fmt: skip
    assert run.exit_code == 0, run.output
    reasons = json.loads((tmp_path / "review" / "selection.json").read_text())
    assert len({r["file_name"] for r in reasons}) == 3 and reasons[0]["file_name"] == "images/00-red.png"
    assert "images/01-red.png" not in [r["file_name"] for r in reasons[:2]]  # 00 and 01 have the same pixels
    run = invoke("review", "export", tmp_path / "d", "--strategy", "diversity", "--embed-weights", tmp_path / "none",
                 "-o", out)  # fmt: skip
    assert run.exit_code == 1 and run.output == f"error: --weights: {tmp_path / 'none'} does not exist\n"


def test_class_scores_change_the_margin_ranking():
    box = (1.0, 1.0, 4.0, 4.0)
    close = Instance("thing", box, 16, score=0.4, attributes={"class_scores": {"thing": 0.4, "other": 0.38}})
    alone = Instance("thing", box, 16, score=0.55, attributes={"class_scores": {"thing": 0.55}})
    dataset = Dataset(categories_from_names(["thing", "other"]),
                      [Sample("a.png", 8, 8, [close]), Sample("b.png", 8, 8, [alone])])  # fmt: skip
    ranked = {strategy: names(select(dataset, 2, strategy)) for strategy in ("uncertainty", "margin", "entropy")}
    assert ranked == {"uncertainty": ["b.png", "a.png"], "margin": ["a.png", "b.png"], "entropy": ["b.png", "a.png"]}
    margin = select(dataset, 2, "margin+uncertainty")
    assert [m.reason["scores"] for m in margin] == [{"margin": 0.9, "uncertainty": 0.9}, {"margin": 0.98, "uncertainty": 0.8}]
    assert [m.score for m in margin] == [0.9, 0.89]
