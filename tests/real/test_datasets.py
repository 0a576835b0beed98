"""Training-time mixing: torch Dataset in torchvision's detection format and the mixing sampler."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mixing_helpers import render_provenance, write_dataset  # noqa: E402

from synthgen.formats.folder import load_dataset  # noqa: E402
from synthgen.labels import Provenance  # noqa: E402
from synthgen.real.datasets import DetectionDataset, MixSampler, collate, mixed_datasets, repeat_factors  # noqa: E402


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    real = write_dataset(tmp_path / "real", ["pallet", "forklift"], [["pallet"]] * 9 + [["forklift", "pallet"]], Provenance(source="human"), seed=1)
    synth = write_dataset(tmp_path / "synth", ["forklift", "drum"], [["forklift", "drum"]] * 5, render_provenance("s"), seed=2)
    return [real, synth]


def test_item_is_torchvision_detection_format(folders):
    real, synth = mixed_datasets(folders)
    assert real.class_names == synth.class_names == ["pallet", "forklift", "drum"]
    image, target = real[9]
    assert image.shape == (3, 48, 64) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    sample = load_dataset(folders[0]).samples[9]
    x, y, w, h = sample.instances[0].box
    assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    assert target["labels"].tolist() == [2, 1]
    assert target["masks"].shape == (2, 48, 64) and target["masks"].dtype == torch.uint8
    assert target["masks"].sum(dim=(1, 2)).tolist() == [i.area for i in sample.instances]
    assert synth[0][1]["labels"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="classes drum are not in class_names"):
        DetectionDataset(folders[1], class_names=["forklift"])


def test_repeat_factors_follow_lvis():
    factors = repeat_factors([{"a"}] * 9 + [{"a", "b"}, set()], threshold=0.4)
    # a: frequency 10/11 -> factor 1; b: frequency 1/11 -> sqrt(0.4 * 11) = 2.098
    assert factors.tolist() == pytest.approx([1.0] * 9 + [np.sqrt(4.4), 1.0])


def test_sampler_mixes_by_weight_and_balances_classes(folders):
    datasets = mixed_datasets(folders)
    sampler = MixSampler(datasets, weights=[3, 1], num_samples=40000, repeat_threshold=0.5, seed=0)
    drawn = Counter(sampler)
    from_real = sum(n for index, n in drawn.items() if index < 10)
    assert from_real / 40000 == pytest.approx(0.75, abs=0.01)
    # inside real: the forklift image (frequency 0.1) repeats sqrt(0.5 / 0.1) = 2.24 times as often as a pallet image
    pallet_mean = np.mean([drawn[i] for i in range(9)])
    assert drawn[9] / pallet_mean == pytest.approx(np.sqrt(5), rel=0.08)
    assert list(sampler) == list(MixSampler(datasets, [3, 1], 40000, 0.5, seed=0))
    sampler.set_epoch(1)
    assert list(sampler) != list(MixSampler(datasets, [3, 1], 40000, 0.5, seed=0))
    with pytest.raises(ValueError, match="weights"):
        MixSampler(datasets, weights=[1])


def test_dataloader_with_workers(folders):
    datasets = mixed_datasets(folders)
    combined = torch.utils.data.ConcatDataset(datasets)
    sampler = MixSampler(datasets, weights=[1, 1], num_samples=12, seed=3)
    loader = torch.utils.data.DataLoader(combined, batch_size=4, sampler=sampler, num_workers=2, collate_fn=collate)
    labels = [t["labels"].tolist() for _, targets in loader for t in targets]
    assert labels == [combined[i][1]["labels"].tolist() for i in sampler]
    assert len(labels) == 12
