"""Training-time mixing: a torch Dataset over synthgen dataset folders and a mixing, class-balancing sampler.

`DetectionDataset(folder)` returns `(image, target)` in torchvision's detection format: a float
CxHxW image in [0, 1] and `boxes` (xyxy, float32), `labels` (int64, 1..N by class name; 0 is
background), `masks` (uint8 NxHxW), `image_id`, `area`, `iscrowd`. `MixSampler` draws from several
such datasets by weight and, inside each, repeats images of rare classes by LVIS repeat-factor
sampling, deterministically for a seed and epoch. Use both with `ConcatDataset` and `DataLoader`.
This module needs torch (`pip install synthgen[prelabel]`); nothing else in synthgen imports it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from synthgen.errors import InputError
from synthgen.fileio import open_image
from synthgen.formats.folder import load_dataset
from synthgen.labels import Instance, Sample, merge_by_name, normalise_name


class DetectionDataset(torch.utils.data.Dataset):
    """One synthgen dataset folder. `class_names` fixes the label indices (default: the folder's classes)."""

    def __init__(self, folder: str | Path, class_names: Sequence[str] | None = None, transforms: Callable | None = None):
        dataset = load_dataset(folder)
        merge_by_name([dataset])
        self.root = Path(folder)
        self.samples: list[Sample] = dataset.samples
        self.class_names = [normalise_name(n) for n in class_names] if class_names is not None else dataset.class_names
        unknown = sorted({i.category for s in self.samples for i in s.instances} - set(self.class_names))
        if unknown:
            raise InputError(f"{folder}: classes {', '.join(unknown)} are not in class_names")
        self.label_of = {name: index + 1 for index, name in enumerate(self.class_names)}
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[index]
        image = read_image_tensor(self.root / sample.file_name)
        target = {**detection_target(sample, sample.instances, self.label_of), "image_id": torch.tensor(index)}
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def image_classes(self) -> list[set[str]]:
        """The classes present in each image (for class balancing)."""
        return [{i.category for i in s.instances} for s in self.samples]


def read_image_tensor(path: Path) -> torch.Tensor:
    """An image file as a float CxHxW RGB tensor in [0, 1]."""
    with open_image(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def detection_target(sample: Sample, instances: Sequence[Instance], label_of: dict[str, int], with_masks: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's detection target for `instances` of `sample`: boxes (xyxy), labels, masks (a
    box-only label gets its box as mask), area, iscrowd."""
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (i.box for i in instances)], dtype=np.float32).reshape(-1, 4)
    target = {
        "boxes": torch.from_numpy(boxes),
        "labels": torch.tensor([label_of[i.category] for i in instances], dtype=torch.int64),
        "area": torch.tensor([i.area for i in instances], dtype=torch.float32),
        "iscrowd": torch.tensor([int(i.iscrowd) for i in instances], dtype=torch.int64),
    }
    if with_masks:
        masks = np.zeros((len(instances), sample.height, sample.width), dtype=np.uint8)
        for number, instance in enumerate(instances):
            if instance.mask is not None:
                masks[number] = instance.decode_mask()
            else:
                x0, y0, x1, y1 = boxes[number].round().astype(int)
                masks[number, y0:y1, x0:x1] = 1
        target["masks"] = torch.from_numpy(masks)
    return target


def mixed_datasets(folders: Sequence[str | Path], transforms: Callable | None = None) -> list[DetectionDataset]:
    """One DetectionDataset per folder, all sharing one class list (merged by name, first-seen order)."""
    names = merge_by_name([load_dataset(folder) for folder in folders])
    return [DetectionDataset(folder, names, transforms) for folder in folders]


def repeat_factors(image_classes: list[set[str]], threshold: float) -> np.ndarray:
    """LVIS repeat factor per image: max over its classes of max(1, sqrt(threshold / class image frequency))."""
    images = len(image_classes)
    frequency: dict[str, int] = {}
    for classes in image_classes:
        for name in classes:
            frequency[name] = frequency.get(name, 0) + 1
    class_factor = {name: max(1.0, math.sqrt(threshold / (n / images))) for name, n in frequency.items()}
    return np.array([max((class_factor[c] for c in classes), default=1.0) for classes in image_classes])


class MixSampler:
    """Indices into `ConcatDataset(datasets)`: dataset d is drawn with probability weights[d] (normalised),
    images inside it in proportion to their repeat factor (`repeat_threshold=None`: uniformly).
    The same seed and epoch give the same indices; call `set_epoch` between epochs."""

    def __init__(
        self, datasets: Sequence[DetectionDataset], weights: Sequence[float], num_samples: int | None = None,
        repeat_threshold: float | None = 0.1, seed: int = 0,
    ):
        if len(weights) != len(datasets) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise InputError(f"weights: need one non-negative weight per dataset with a positive sum, got {list(weights)}")
        parts = []
        for dataset, weight in zip(datasets, weights):
            factors = np.ones(len(dataset)) if repeat_threshold is None else repeat_factors(dataset.image_classes(), repeat_threshold)
            parts.append(weight / sum(weights) * factors / factors.sum() if len(dataset) else factors)
        self.probabilities = np.concatenate(parts)
        self.probabilities /= self.probabilities.sum()
        self.num_samples = num_samples if num_samples is not None else len(self.probabilities)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        return iter(rng.choice(len(self.probabilities), size=self.num_samples, p=self.probabilities).tolist())


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Detection batches are lists (images differ in size and instance count)."""
    images, targets = zip(*batch)
    return list(images), list(targets)
