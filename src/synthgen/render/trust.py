"""The trust gate: does each generated instance really appear inside the mask its label claims?

A Scorer gives every (class, mask) of an image a score in [0, 1]; the diffusion backend drops or
regenerates what falls below the recipe's threshold. Scorers:
- `ContrastScorer` (no model): how different the masked pixels are from the ring around the mask.
  A region the model left as background looks like its surroundings and scores near 0.
- `ClipScorer`: CLIP (transformers, from a local folder or hub id) probability that the masked crop
  shows its class rather than another class or background.
- `DetectorAgreementScorer`: best IoU of a detector's same-class prediction with the label; any
  pre-labelling Detector (`synthgen.real.prelabel`) plugs in (`trust.scorer: detector`).
Heavy imports (torch, transformers, OpenCV) happen inside the scorers that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from synthgen.labels import Instance, Sample, decode_mask
from synthgen.recipe.diffusion import TrustSpec, resolve_model

if TYPE_CHECKING:
    from synthgen.real.prelabel import Detector

Labelled = tuple[str, np.ndarray]  # (class name, boolean HxW mask)
COLOR_LEVELS = 8  # histogram bins per channel for ContrastScorer
BACKGROUND_PROMPT = "a photo of an empty background"


class Scorer(Protocol):
    name: str

    def score(self, image: np.ndarray, labelled: Sequence[Labelled]) -> list[float]: ...


class ContrastScorer:
    """Total-variation distance between colour histograms inside each mask and in a ring around it."""

    name = "contrast"

    def score(self, image: np.ndarray, labelled: Sequence[Labelled]) -> list[float]:
        import cv2

        bins = (image // (256 // COLOR_LEVELS)).astype(np.int32)
        codes = (bins[..., 0] * COLOR_LEVELS + bins[..., 1]) * COLOR_LEVELS + bins[..., 2]
        labelled_anywhere = np.any([mask for _, mask in labelled], axis=0) if labelled else None
        scores = []
        for _, mask in labelled:
            radius = max(2, int(round(np.sqrt(mask.sum()) / 4)))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~labelled_anywhere
            if not ring.any() or not mask.any():
                scores.append(1.0)  # nothing around it to compare with: no evidence against it
                continue
            inside = np.bincount(codes[mask], minlength=COLOR_LEVELS**3) / mask.sum()
            around = np.bincount(codes[ring], minlength=COLOR_LEVELS**3) / ring.sum()
            scores.append(float(0.5 * np.abs(inside - around).sum()))
        return scores


class ClipScorer:
    """CLIP probability that a masked crop shows its class, among all classes and background."""

    name = "clip"

    def __init__(self, model: str, class_names: list[str], device: str = "cpu"):
        import torch
        from transformers import CLIPModel, CLIPProcessor

        self.torch, self.device, self.class_names = torch, device, class_names
        self.model = CLIPModel.from_pretrained(model).to(device).eval()
        self.processor = CLIPProcessor.from_pretrained(model)
        prompts = [f"a photo of a {name}" for name in class_names] + [BACKGROUND_PROMPT]
        with torch.no_grad():
            tokens = self.processor(text=prompts, return_tensors="pt", padding=True).to(device)
            self.text = _unit(_embedding(self.model.get_text_features(**tokens)))

    def score(self, image: np.ndarray, labelled: Sequence[Labelled]) -> list[float]:
        if not labelled:
            return []
        crops = [masked_crop(image, mask) for _, mask in labelled]
        with self.torch.no_grad():
            pixels = self.processor(images=crops, return_tensors="pt").to(self.device)
            features = _unit(_embedding(self.model.get_image_features(**pixels)))
            probabilities = (self.model.logit_scale.exp() * features @ self.text.T).softmax(dim=-1).cpu().numpy()
        return [float(probabilities[i, self.class_names.index(name)]) for i, (name, _) in enumerate(labelled)]


class DetectorAgreementScorer:
    """Best IoU between the label's mask and a detector's prediction of the same class."""

    name = "detector"

    def __init__(self, detector: Detector):
        self.detector = detector

    def score(self, image: np.ndarray, labelled: Sequence[Labelled]) -> list[float]:
        from PIL import Image

        from synthgen.real.prelabel.base import Photo

        predictions = self.detector.predict([Photo("generated", Image.fromarray(image))])[0]
        return [max((_iou(mask, p) for p in predictions if p.category == name), default=0.0) for name, mask in labelled]


def _iou(mask: np.ndarray, prediction: Instance) -> float:
    """Mask IoU when the prediction has a mask, else IoU of the label's box with the predicted box."""
    if prediction.mask is not None:
        other = decode_mask(prediction.mask)
        union = np.logical_or(mask, other).sum()
        return float(np.logical_and(mask, other).sum() / union) if union else 0.0
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0.0
    a = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    x, y, w, h = prediction.box
    b = (x, y, x + w, y + h)
    overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + w * h - overlap
    return float(overlap / union) if union else 0.0


def masked_crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mask's bounding square of `image`, pixels outside the mask set to mid grey."""
    ys, xs = np.nonzero(mask)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) // 2 + 2
    top, left = max(cy - half, 0), max(cx - half, 0)
    window = (slice(top, cy + half + 1), slice(left, cx + half + 1))
    return np.where(mask[window][..., None], image[window], 128).astype(np.uint8)


def _embedding(output: Any) -> Any:
    """transformers >= 5 returns a model output (pooled features in `pooler_output`); 4.x a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


def _unit(features: Any) -> Any:
    return features / features.norm(dim=-1, keepdim=True)


DETECTOR_THRESHOLD = 0.05  # keep weak predictions: agreement is judged by IoU, not by the detector's confidence


def create_scorer(trust: TrustSpec, base_dir: Path, class_names: list[str], device: str = "cpu") -> Scorer | None:
    """The scorer a recipe's `trust` block names (model paths relative to `base_dir`), or None for 'none'."""
    model = resolve_model(trust.model, base_dir) if trust.model else None
    if trust.scorer == "contrast":
        return ContrastScorer()
    if trust.scorer == "clip":
        return ClipScorer(str(model), class_names, device)
    if trust.scorer == "detector":
        from synthgen.real.prelabel import make_detector

        weights = Path(resolve_model(trust.weights, base_dir)) if trust.weights else None
        classes = {name: [name] for name in class_names}
        detector = make_detector(trust.detector, weights=weights, model=model, classes=classes, threshold=DETECTOR_THRESHOLD, device=device)
        return DetectorAgreementScorer(detector)
    return None


def summarize(samples: Sequence[Sample]) -> dict[str, int] | None:
    """How many generated instances the gate scored, kept and dropped (None: no gate ran)."""
    scored = [i for s in samples for i in s.instances if "trust" in i.attributes]
    if not scored:
        return None
    dropped = sum(1 for i in scored if i.attributes["trust"] == "dropped")
    return {"scored": len(scored), "kept": len(scored) - dropped, "dropped": dropped}

