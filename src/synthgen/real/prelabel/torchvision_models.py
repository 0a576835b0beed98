"""torchvision detection models (Faster/Mask R-CNN, RetinaNet, FCOS, SSD ...): build by name, load
weights from a local file, predict boxes, scores and (Mask R-CNN) masks.

Weights load only from safetensors or `torch.load(weights_only=True)`. A `synthgen train` folder
holds `model.safetensors` plus `config.json` (architecture, classes, image size), so it loads by
path alone. Without a config, label `i` is `--classes[i-1]`; weights with torchvision's 91 COCO
labels (e.g. the official checkpoints) are recognised and `--classes` then picks COCO names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torchvision.transforms.functional import pil_to_tensor

from synthgen.fileio import read_json
from synthgen.formats import fields
from synthgen.labels import Instance
from synthgen.real.prelabel.base import Photo, PrelabelError, clip_box, file_sha256

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SIZED_FAMILIES = ("fasterrcnn", "maskrcnn", "keypointrcnn", "retinanet", "fcos")
COCO_LABELS = torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]


def architectures() -> list[str]:
    """Names of the detection architectures torchvision builds."""
    return sorted(torchvision.models.list_models(module=torchvision.models.detection))


def build_model(
    arch: str, num_classes: int, min_size: int | None = None, max_size: int | None = None, **options: Any
):
    """An untrained `arch` with `num_classes` labels (background included); nothing is downloaded.
    `options` go to the torchvision builder (e.g. `box_batch_size_per_image`, `box_detections_per_img`)."""
    if arch not in architectures():
        raise PrelabelError(f"--arch: unknown torchvision detector {arch!r}; known: {', '.join(architectures())}")
    kwargs: dict[str, Any] = {**options, "weights": None, "weights_backbone": None, "num_classes": num_classes}
    if min_size and arch.startswith(SIZED_FAMILIES):
        kwargs.update(min_size=min_size, max_size=max_size or min_size)
    return torchvision.models.get_model(arch, **kwargs)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, or a torch file read with `weights_only=True`."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any reader failure is the user's file
        raise PrelabelError(f"{path}: cannot read weights: {error}") from None
    return state.get("model", state) if isinstance(state, dict) else state


def read_model_folder(weights: Path) -> tuple[Path, dict[str, Any] | None]:
    """The weights file and, when it sits in a `synthgen train` folder, that folder's config."""
    file = weights / WEIGHTS if weights.is_dir() else weights
    config_path = file.parent / CONFIG
    if not file.is_file():
        raise PrelabelError(f"--weights: {file} does not exist")
    if not config_path.is_file():
        return file, None
    return file, fields.mapping(read_json(config_path), str(config_path))


def save_model_folder(model, folder: Path, config: dict[str, Any]) -> None:
    """Write `model.safetensors` and `config.json` (what `read_model_folder` reads back)."""
    from safetensors.torch import save_file

    from synthgen.fileio import atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    atomic_write_json(folder / CONFIG, config)


def load_detection_model(arch: str | None, weights: Path, classes: list[str]):
    """(model, label names by index, config) for `weights`; label 0 is the background."""
    file, config = read_model_folder(weights)
    state = load_state_dict(file)
    if config is not None:
        if arch and arch != config["arch"]:
            raise PrelabelError(f"--detector: {weights} holds a {config['arch']}, not a {arch}")
        labels = ["__background__", *config["classes"]]
        sizes = config.get("min_size"), config.get("max_size")
        model = build_model(config["arch"], len(labels), *sizes, **config.get("options", {}))
        return _load(model, state, file), labels, config
    if not arch:
        raise PrelabelError(f"--detector: {file} has no {CONFIG} beside it; name it as torchvision:<arch>")
    for labels in (["__background__", *classes], COCO_LABELS):
        model = build_model(arch, len(labels))
        try:
            model.load_state_dict(state)
            return model, labels, {"arch": arch}
        except RuntimeError:
            continue
    raise PrelabelError(f"{file}: weights do not fit {arch} with {len(classes)} classes (--classes) nor COCO's 91")


def _load(model, state, file: Path):
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise PrelabelError(f"{file}: weights do not fit its {CONFIG}: {str(error).splitlines()[0]}") from None
    return model


class TorchvisionDetector:
    """A torchvision detection model in eval mode on `device`."""

    def __init__(self, arch: str | None, weights: Path, classes: list[str], threshold: float, device: str):
        model, self.labels, config = load_detection_model(arch, weights, classes)
        known = [name for name in self.labels[1:] if name != "N/A"]
        unknown = [name for name in classes if name not in known]
        if unknown:
            raise PrelabelError(f"--classes: {', '.join(unknown)} not among the model's classes ({', '.join(known)})")
        self.classes = classes or known
        self.arch, self.threshold, self.device = config["arch"], threshold, device
        self.weights_sha256 = file_sha256(read_model_folder(weights)[0])
        self.model = model.to(device).eval()

    def describe(self) -> dict[str, Any]:
        return {
            "detector": f"torchvision:{self.arch}",
            "weights_sha256": self.weights_sha256,
            "threshold": self.threshold,
        }

    @torch.inference_mode()
    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        tensors = [pil_to_tensor(p.image).to(self.device, torch.float32) / 255 for p in photos]
        outputs = self.model(tensors)
        return [self._instances(output, photo) for output, photo in zip(outputs, photos)]

    def _instances(self, output: dict[str, torch.Tensor], photo: Photo) -> list[Instance]:
        instances = []
        masks = output.get("masks")
        for i, (box, label, score) in enumerate(zip(output["boxes"], output["labels"], output["scores"])):
            name = self.labels[int(label)]
            if float(score) < self.threshold or name not in self.classes:
                continue
            mask = masks[i, 0].cpu().numpy() > 0.5 if masks is not None else None
            if mask is not None and np.any(mask):
                instances.append(Instance.from_mask(name, mask, score=float(score)))
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            xywh = clip_box((x0, y0, x1 - x0, y1 - y0), photo.image.width, photo.image.height)
            instances.append(Instance(category=name, box=xywh, area=xywh[2] * xywh[3], score=float(score)))
        return instances
