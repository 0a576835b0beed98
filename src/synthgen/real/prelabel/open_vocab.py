"""Open-vocabulary detectors from transformers (OWLv2, OWL-ViT): class names and their synonyms
become text prompts, so a class no closed-set detector knows still gets pre-labels.

`--model` is a hub id or a local folder (`save_pretrained` layout), loaded with `from_pretrained`.
Each predicted box gets the class of its best-matching prompt, and keeps each class's score (its
best prompt's) in `attributes["class_scores"]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synthgen.labels import Instance
from synthgen.real.prelabel.base import Photo, PrelabelError, class_scores, clip_box, file_sha256


def weights_digest(model: str) -> str:
    """sha256 of a local folder's safetensors weights, else the hub id itself."""
    files = sorted(Path(model).glob("*.safetensors")) if Path(model).is_dir() else []
    return ",".join(file_sha256(f) for f in files) or model


class OpenVocabDetector:
    """OWLv2 / OWL-ViT prompted with `prompts` (class name -> its text prompts). Subclasses (Grounding
    DINO) change `model_classes` and `predict`; loading, prompts, provenance and boxes are shared."""

    def __init__(self, family: str, model: str, prompts: dict[str, list[str]], threshold: float, device: str):
        model_class, processor_class = self.model_classes(family)
        try:
            self.processor = processor_class.from_pretrained(model)
            self.model = model_class.from_pretrained(model, use_safetensors=True).to(device).eval()
        except (OSError, ValueError) as error:
            raise PrelabelError(f"--model: cannot load {family} from {model!r}: {str(error).splitlines()[0]}") from None
        self.family, self.model_id, self.threshold, self.device = family, model, threshold, device
        self.classes = list(prompts)
        self.texts = [text for texts in prompts.values() for text in texts]
        self.text_classes = [name for name, texts in prompts.items() for _ in texts]
        # (prompts, classes) 0/1: a class scores as its best prompt
        self.prompt_classes = torch.tensor([[float(c == name) for name in self.classes] for c in self.text_classes])
        self.weights_sha256 = weights_digest(model)

    @staticmethod
    def model_classes(family: str):
        """(model class, processor class) of `family`."""
        from transformers import Owlv2ForObjectDetection, Owlv2Processor, OwlViTForObjectDetection, OwlViTProcessor

        owl = {"owlv2": (Owlv2ForObjectDetection, Owlv2Processor), "owlvit": (OwlViTForObjectDetection, OwlViTProcessor)}
        return owl[family]

    def describe(self) -> dict[str, Any]:
        return {
            "detector": self.family,
            "model": self.model_id,
            "weights_sha256": self.weights_sha256,
            "threshold": self.threshold,
            "prompts": self.texts,
        }

    def _target_size(self, photo: Photo) -> tuple[int, int]:
        """OWLv2 pads images to a square before resizing, so its boxes scale to the longer side."""
        width, height = photo.image.size
        return (max(width, height),) * 2 if self.family == "owlv2" else (height, width)

    @torch.inference_mode()
    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        inputs = self.processor(
            text=[self.texts] * len(photos), images=[p.image for p in photos], return_tensors="pt", padding=True
        ).to(self.device)
        outputs = self.model(**inputs)
        # every query in order (threshold -1), so each box's class scores can be taken beside it
        results = self.processor.post_process_grounded_object_detection(
            outputs=outputs, threshold=-1.0, target_sizes=[self._target_size(p) for p in photos]
        )
        per_class = self.per_class_scores(outputs.logits.sigmoid())
        found = []
        for result, by_class, photo in zip(results, per_class, photos):
            keep = result["scores"] > self.threshold  # transformers' own rule
            kept = {key: result[key][keep] for key in ("boxes", "labels", "scores")}
            found.append(self._instances({**kept, "class_scores": by_class[keep]}, photo))
        return found

    def per_class_scores(self, per_prompt: torch.Tensor) -> torch.Tensor:
        """(photos, queries, prompts) scores -> (photos, queries, classes): each class its best prompt's."""
        return (per_prompt[..., None] * self.prompt_classes.to(per_prompt.device)).amax(2)

    def _instances(self, result: dict[str, torch.Tensor], photo: Photo) -> list[Instance]:
        """Boxes (x0, y0, x1, y1 in photo pixels), labels (indices into `texts`), scores and each box's
        score per class (`class_scores`, (boxes, classes)) -> instances."""
        instances = []
        boxes, labels, scores = result["boxes"].tolist(), result["labels"].tolist(), result["scores"].tolist()
        for (x0, y0, x1, y1), label, score, by_class in zip(boxes, labels, scores, result["class_scores"].tolist()):
            xywh = clip_box((x0, y0, x1 - x0, y1 - y0), photo.image.width, photo.image.height)
            if xywh[2] > 0 and xywh[3] > 0:
                name = self.text_classes[label]
                extra = {"class_scores": class_scores(self.classes, by_class, name)}
                instances.append(Instance(category=name, box=xywh, area=xywh[2] * xywh[3], score=float(score), attributes=extra))
        return instances
