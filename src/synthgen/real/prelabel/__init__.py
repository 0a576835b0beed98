"""Pre-labelling real photos: `make_detector`, the factory behind `--detector`.

Families live in their own modules and import torch / transformers / onnxruntime only when built:
`torchvision:<arch>` (torchvision_models), `owlv2` / `owlvit` (open_vocab), `grounding-dino`
(grounding_dino), `yolo` (yolo_onnx: an ONNX export), and a COCO results file a team already has
(from_results). What they share is in `base`; `refine` turns boxes into SAM masks.
"""

from __future__ import annotations

from pathlib import Path

from synthgen.real.prelabel.base import Detector, PrelabelError, parse_classes, pick_device

OPEN_VOCAB_FAMILIES = ("owlv2", "owlvit")
TEXT_PROMPTED = (*OPEN_VOCAB_FAMILIES, "grounding-dino")

__all__ = ["OPEN_VOCAB_FAMILIES", "TEXT_PROMPTED", "Detector", "PrelabelError", "make_detector", "parse_classes"]


def make_detector(
    detector: str | None,
    *,
    weights: Path | None = None,
    model: str | None = None,
    classes: dict[str, list[str]] | None = None,
    threshold: float = 0.3,
    device: str | None = None,
    from_results: Path | None = None,
    images_json: Path | None = None,
    photo_names: list[str] | None = None,
) -> Detector:
    """The detector the command line asks for (see the module docstring for the names)."""
    classes = classes or {}
    if from_results is not None:
        if detector or weights or model:
            raise PrelabelError("--from-results: cannot be combined with --detector, --weights or --model")
        from synthgen.real.prelabel.from_results import ResultsDetector

        return ResultsDetector(from_results, photo_names or [], list(classes), images_json, threshold)
    if detector in TEXT_PROMPTED:
        if not model or not classes:
            raise PrelabelError(f"--detector {detector}: needs --model and --classes")
        if detector == "grounding-dino":
            from synthgen.real.prelabel.grounding_dino import GroundingDinoDetector

            return GroundingDinoDetector(model, classes, threshold, pick_device(device))
        from synthgen.real.prelabel.open_vocab import OpenVocabDetector

        return OpenVocabDetector(detector, model, classes, threshold, pick_device(device))
    if detector == "yolo":
        if weights is None:
            raise PrelabelError("--detector yolo: needs --weights (an ONNX export of the model)")
        from synthgen.real.prelabel.yolo_onnx import YoloOnnxDetector

        return YoloOnnxDetector(Path(weights), list(classes), threshold, device)
    if detector is None or detector == "torchvision" or detector.startswith("torchvision:"):
        if weights is None:
            raise PrelabelError("--weights: a torchvision detector needs a weights file or a `synthgen train` folder")
        from synthgen.real.prelabel.torchvision_models import TorchvisionDetector

        arch = detector.partition(":")[2] if detector else ""
        return TorchvisionDetector(arch or None, Path(weights), list(classes), threshold, pick_device(device))
    raise PrelabelError(
        f"--detector: unknown detector {detector!r}; use torchvision:<arch>, yolo, {', '.join(TEXT_PROMPTED)}"
    )
