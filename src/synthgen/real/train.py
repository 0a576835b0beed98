"""Fine-tune a torchvision detector on any mix of synthgen datasets (synthetic, reviewed real).

Classes are merged by name in order of first appearance (or are those of `--weights`, the model
to start from). The result is a model folder (`model.safetensors` + `config.json`) that `prelabel
--weights FOLDER` loads by path. Mask R-CNN trains its mask head on instance masks, and on the box
for instances that have none (e.g. boxes a reviewer drew).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen.errors import InputError
from synthgen.fileio import inside, refuse_existing, staged_folder
from synthgen.formats.coco import CocoFormatError
from synthgen.formats.folder import load_dataset
from synthgen.labels import Sample, merge_by_name, normalise_name
from synthgen.layout import ANNOTATIONS

DEFAULT_ARCH = "fasterrcnn_mobilenet_v3_large_fpn"
OPTIMIZERS = ("sgd", "adamw")


class TrainError(InputError):
    """Bad training input; the message names the file and field."""


@dataclass
class TrainItem:
    image: Path
    sample: Sample


def gather(
    dataset_dirs: list[Path], classes: list[str] | None, include_unreviewed: bool = False
) -> tuple[list[TrainItem], list[str]]:
    """The samples to learn from, and the class list (given, or merged by name). Pre-labels nobody
    reviewed are left out unless asked for: a detector trained on its own guesses learns its mistakes."""
    try:
        datasets = [load_dataset(folder) for folder in dataset_dirs]
    except CocoFormatError as error:
        raise TrainError(str(error)) from None
    merged = merge_by_name(datasets)
    names = [normalise_name(name) for name in classes] if classes is not None else merged
    items = []
    for folder, dataset in zip(dataset_dirs, datasets):
        for sample in dataset.samples:
            if sample.provenance.source == "prelabel" and not include_unreviewed:
                continue
            unknown = {i.category for i in sample.instances} - set(names)
            if unknown:
                raise TrainError(f"{folder}: {sample.file_name}: class {sorted(unknown)[0]!r} is not in the model")
            items.append(TrainItem(inside(Path(folder), sample.file_name, f"{Path(folder) / ANNOTATIONS}: images[].file_name"), sample))
    if not items:
        raise TrainError(f"{', '.join(map(str, dataset_dirs))}: no images to train on (unreviewed pre-labels need --include-unreviewed)")
    return items, names


def to_target(item: TrainItem, classes: list[str], with_masks: bool) -> tuple[Any, dict[str, Any]]:
    """(image tensor, torchvision target) for one sample; boxes under a pixel are left out."""
    from synthgen.real.datasets import detection_target, read_image_tensor

    try:
        tensor = read_image_tensor(item.image)
    except OSError as error:
        raise TrainError(f"{item.image}: cannot read image: {error}") from None
    kept = [i for i in item.sample.instances if i.box[2] >= 1 and i.box[3] >= 1 and not i.iscrowd]
    label_of = {name: number for number, name in enumerate(classes, start=1)}
    return tensor, detection_target(item.sample, kept, label_of, with_masks)


def recalibrate_batchnorm(model, items: list[TrainItem], classes: list[str], batch_size: int, device: str) -> None:
    """Set BatchNorm running statistics to their exact average over (up to 256 of) the training images.
    Early in training the running averages trail the weights far behind, and a detector evaluated
    with them scores much worse than it has learnt to (detectron2's PreciseBN does the same)."""
    import torch

    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for start_at in range(0, min(len(items), 256), batch_size):
            images = [to_target(item, classes, False)[0].to(device) for item in items[start_at : start_at + batch_size]]
            model.backbone(model.transform(images)[0].tensors)
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def make_optimizer(name: str, parameters, lr: float):
    import torch

    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=1e-4)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-4)


def run_epochs(
    model, optimizer, items: list[TrainItem], classes: list[str], epochs: int, batch_size: int, seed: int,
    device: str, show_progress: bool,
) -> list[float]:  # fmt: skip
    """Train in shuffled batches (the order depends only on `seed`); the last epoch's step losses."""
    heads = getattr(model, "roi_heads", None)
    with_masks = heads is not None and heads.has_mask()
    order, losses = list(range(len(items))), []
    with EpochReport(show_progress, epochs, -(-len(items) // batch_size)) as report:
        for epoch in range(epochs):
            random.Random(seed + epoch).shuffle(order)
            losses = []
            for start_at in range(0, len(order), batch_size):
                batch = [to_target(items[i], classes, with_masks) for i in order[start_at : start_at + batch_size]]
                images = [image.to(device) for image, _ in batch]
                targets = [{k: v.to(device) for k, v in target.items()} for _, target in batch]
                loss = sum(model(images, targets).values())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                report.step(epoch, losses)
            report.epoch_done(epoch, losses)
    return losses


class EpochReport:
    """Epoch, mean loss and ETA while training, on stderr: a bar on a terminal, else one line per epoch."""

    def __init__(self, show: bool, epochs: int, steps_per_epoch: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from synthgen.progress import progress_bar

        self.console = Console(stderr=True)
        self.lines = show and not self.console.is_terminal
        self.epochs, self.started = epochs, time.monotonic()
        self.progress = progress_bar(
            show, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        )  # fmt: skip
        self.task = self.progress.add_task(f"epoch 1/{epochs}", total=epochs * steps_per_epoch, loss="")

    def __enter__(self) -> EpochReport:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def step(self, epoch: int, losses: list[float]) -> None:
        loss = f"loss {sum(losses) / len(losses):.4f}"
        self.progress.update(self.task, advance=1, description=f"epoch {epoch + 1}/{self.epochs}", loss=loss)

    def epoch_done(self, epoch: int, losses: list[float]) -> None:
        if not self.lines:
            return
        from synthgen.progress import clock

        seconds = time.monotonic() - self.started
        self.console.print(
            f"epoch {epoch + 1}/{self.epochs}: loss {sum(losses) / len(losses):.4f}, {seconds:.1f} s, "
            f"ETA {clock(seconds / (epoch + 1) * (self.epochs - epoch - 1))}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip


def train(
    dataset_dirs: list[Path],
    out: Path,
    arch: str | None = None,
    epochs: int = 10,
    batch_size: int = 4,
    lr: float = 0.01,
    image_size: int | None = None,
    weights: Path | None = None,
    device: str | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    include_unreviewed: bool = False,
    optimizer: str = "sgd",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train and write the model folder `out`; returns its config (with the last epoch's mean loss).
    `options` are torchvision builder arguments, saved in the config so the model loads back the same."""
    import torch

    from synthgen.real.prelabel.base import pick_device
    from synthgen.real.prelabel.torchvision_models import build_model, load_detection_model, save_model_folder

    refuse_existing(Path(out))  # before training, not after
    if optimizer not in OPTIMIZERS:
        raise TrainError(f"--optimizer: {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    device = pick_device(device)
    torch.manual_seed(seed)
    if weights is not None:
        model, labels, start = load_detection_model(arch, Path(weights), [])
        arch, image_size, options = start["arch"], start.get("min_size"), start.get("options", {})
        items, classes = gather(dataset_dirs, labels[1:], include_unreviewed)
    else:
        items, classes = gather(dataset_dirs, None, include_unreviewed)
        arch = arch or DEFAULT_ARCH
        options = options or {}
        model = build_model(arch, len(classes) + 1, image_size, image_size, **options)
    model.to(device).train()
    optimizer_step = make_optimizer(optimizer, model.parameters(), lr)
    losses = run_epochs(model, optimizer_step, items, classes, epochs, batch_size, seed, device, show_progress)
    recalibrate_batchnorm(model, items, classes, batch_size, device)
    config = {
        "arch": arch,
        "classes": classes,
        "min_size": image_size,
        "max_size": image_size,
        "options": options,
        "epochs": epochs,
        "optimizer": optimizer,
        "lr": lr,
        "images": len(items),
        "datasets": [str(d) for d in dataset_dirs],
        "final_loss": sum(losses) / len(losses),
    }
    with staged_folder(out) as staging:
        save_model_folder(model, staging, config)
    return config
