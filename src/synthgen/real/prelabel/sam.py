"""SAM refinement: every pre-label box becomes an instance mask (transformers SAM, SAM-HQ or SAM 2).

Each box is the prompt for one mask (SAM's single-mask output); the instance's box and area are
then the mask's, and the prompt is kept in `attributes["box_prompt"]` with SAM's own quality
estimate in `attributes["sam_score"]`. A box whose mask comes out empty stays as it was. Used by
`prelabel --refine sam` (wrapping the detector) and by `synthgen refine` on a dataset folder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from synthgen.fileio import inside, refuse_existing
from synthgen.formats.folder import load_dataset, write_dataset_folder
from synthgen.labels import Instance, Sample
from synthgen.layout import ANNOTATIONS
from synthgen.progress import tracked
from synthgen.real.prelabel.base import Detector, Photo, PrelabelError
from synthgen.real.prelabel.open_vocab import weights_digest

SAM_TYPES = ("sam", "sam_hq", "sam2")


class SamRefiner:
    """A SAM model and its processor from a hub id or a `save_pretrained` folder."""

    def __init__(self, model: str, device: str):
        from transformers import AutoConfig, AutoModel, AutoProcessor

        try:
            model_type = AutoConfig.from_pretrained(model).model_type
        except (OSError, ValueError) as error:
            raise PrelabelError(f"--sam-model: cannot load SAM from {model!r}: {str(error).splitlines()[0]}") from None
        if model_type not in SAM_TYPES:
            raise PrelabelError(f"--sam-model: {model!r} is a {model_type} model, not one of {', '.join(SAM_TYPES)}")
        try:
            self.processor = AutoProcessor.from_pretrained(model)
        except (OSError, ValueError) as error:
            raise PrelabelError(f"--sam-model: {model!r} has no SAM processor: {str(error).splitlines()[0]}") from None
        if not hasattr(self.processor, "post_process_masks"):
            raise PrelabelError(f"--sam-model: {model!r} has no SAM processor (found {type(self.processor).__name__})")
        self.model = AutoModel.from_pretrained(model, use_safetensors=True).to(device).eval()
        self.model_id, self.device, self.weights_sha256 = model, device, weights_digest(model)

    def describe(self) -> dict[str, Any]:
        return {"refine": "sam", "sam_model": self.model_id, "sam_sha256": self.weights_sha256}

    @torch.inference_mode()
    def refine(self, image: Image.Image, instances: list[Instance]) -> list[Instance]:
        """`instances` with masks from their boxes (same order; empty masks keep the box)."""
        if not instances:
            return []
        boxes = [[x, y, x + w, y + h] for x, y, w, h in (i.box for i in instances)]
        inputs = self.processor(images=[image], input_boxes=[boxes], return_tensors="pt").to(self.device)
        outputs = self.model(**inputs, multimask_output=False)
        sizes = {"reshaped_input_sizes": inputs["reshaped_input_sizes"].cpu()} if "reshaped_input_sizes" in inputs else {}
        masks = self.processor.post_process_masks(outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(), **sizes)[0]
        scores = outputs.iou_scores[0, :, 0].tolist()
        return [_refined(i, m[0].numpy(), s) for i, m, s in zip(instances, masks, scores, strict=True)]


def _refined(instance: Instance, mask, score: float) -> Instance:
    if not mask.any():
        return instance
    attributes = {**instance.attributes, "box_prompt": list(instance.box), "sam_score": float(score)}
    return Instance.from_mask(
        instance.category, mask, score=instance.score, iscrowd=instance.iscrowd, attributes=attributes
    )


@dataclass
class RefinedDetector:
    """A detector whose predictions pass through SAM (`prelabel --refine sam`)."""

    detector: Detector
    refiner: SamRefiner

    @property
    def classes(self) -> list[str]:
        return self.detector.classes

    def describe(self) -> dict[str, Any]:
        return {**self.detector.describe(), **self.refiner.describe()}

    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        found = self.detector.predict(photos)
        return [self.refiner.refine(photo.image, instances) for photo, instances in zip(photos, found, strict=True)]


def refine_dataset(dataset_dir: Path, out: Path, refiner: SamRefiner, show_progress: bool = True) -> tuple[int, int]:
    """Write `out`: the dataset folder `dataset_dir` with every box refined into a SAM mask.
    Returns (images, instances that got a mask)."""
    refuse_existing(Path(out))
    dataset_dir = Path(dataset_dir)
    dataset = load_dataset(dataset_dir)
    where = f"{dataset_dir / ANNOTATIONS}: images[].file_name"
    sources = [inside(dataset_dir, sample.file_name, where) for sample in dataset.samples]
    samples, masked = [], 0
    for sample, source in tracked(list(zip(dataset.samples, sources)), "refining", show_progress):
        instances = refiner.refine(_read_image(source, sample), sample.instances)
        masked += sum(1 for i in instances if "box_prompt" in i.attributes)
        samples.append(_with_refine_provenance(replace(sample, instances=instances), refiner))
    manifest = {"command": "refine", "source": str(dataset_dir), **refiner.describe(), "masked": masked}
    write_dataset_folder(replace(dataset, samples=samples), Path(out), sources, manifest)
    return len(samples), masked


def _read_image(path: Path, sample: Sample) -> Image.Image:
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise PrelabelError(f"{path}: cannot read image: {error}") from None
    if image.size != (sample.width, sample.height):
        raise PrelabelError(
            f"{path}: {ANNOTATIONS} says {sample.width}x{sample.height} (got {image.width}x{image.height})"
        )
    return image


def _with_refine_provenance(sample: Sample, refiner: SamRefiner) -> Sample:
    described = refiner.describe()
    model_ids = {**sample.provenance.model_ids, "sam_model": described["sam_model"], "sam_sha256": described["sam_sha256"]}
    extra = {**sample.provenance.extra, "refine": "sam"}
    return replace(sample, provenance=replace(sample.provenance, model_ids=model_ids, extra=extra))
