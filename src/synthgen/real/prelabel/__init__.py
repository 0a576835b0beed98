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
REFINERS = ("sam",)

__all__ = ["OPEN_VOCAB_FAMILIES", "REFINERS", "TEXT_PROMPTED", "Detector", "PrelabelError", "make_detector", "make_refiner", "parse_classes"]


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
    refine: str | None = None,
    sam_model: str | None = None,
) -> Detector:
    """The detector the command line asks for (see the module docstring for the names); with
    `refine="sam"` its boxes become SAM masks."""
    if not 0 <= threshold <= 1:  # NaN too: no score passes it, and the pre-labels would come out empty
        raise PrelabelError(f"--threshold: expected a number in [0, 1] (got {threshold})")
    refining = refine is not None or sam_model is not None
    if refining:
        check_refine(refine, sam_model)  # before loading anything
    found = _make_detector(detector, weights, model, classes or {}, threshold, device, from_results, images_json, photo_names)
    if not refining:
        return found
    from synthgen.real.prelabel.sam import RefinedDetector

    return RefinedDetector(found, make_refiner(refine, sam_model, device))


def check_refine(refine: str | None, sam_model: str | None) -> None:
    """`--refine` names a refiner and `--sam-model` is given."""
    if refine not in REFINERS:
        raise PrelabelError(f"--refine: expected one of {', '.join(REFINERS)} (got {refine!r})")
    if not sam_model:
        raise PrelabelError("--refine sam: needs --sam-model (a hub id or a local folder)")


def make_refiner(refine: str | None, sam_model: str | None, device: str | None = None):
    """The box-to-mask refiner of `--refine sam --sam-model MODEL`."""
    check_refine(refine, sam_model)
    from synthgen.real.prelabel.sam import SamRefiner

    return SamRefiner(sam_model, pick_device(device))


def _make_detector(detector, weights, model, classes, threshold, device, from_results, images_json, photo_names):
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
