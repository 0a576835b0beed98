"""YOLO detectors exported to ONNX (`yolo export format=onnx`), run with onnxruntime.

No ultralytics code runs here (it is AGPL) and nothing is unpickled: the pre- and post-processing
are numpy re-implementations of ultralytics' predict path, checked against it in the tests:

- letterbox: resize (cv2 bilinear) keeping the aspect ratio, pad to the model's input size with
  grey 114, centred (`LetterBox(auto=False)`, as ultralytics runs static ONNX models);
- detection head `(1, 4 + nc, N)` (cx, cy, w, h, class scores), segmentation head
  `(1, 4 + nc + 32, N)` plus prototypes `(1, 32, H/4, W/4)`, or end-to-end heads `(1, N, 6 [+ 32])`;
- best class per box, scores of at least `--threshold`, class-aware NMS at IoU 0.7, at most 300 boxes;
  each box keeps its score per class (`attributes["class_scores"]`, see `base.class_scores`);
- boxes back to the photo (`scale_boxes`), masks at the photo's resolution (`process_mask_native`).

Class names come from the ONNX metadata (`names`, written by the exporter as a Python dict literal)
or, without it, from `--classes` in index order.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from synthgen.labels import Instance
from synthgen.real.prelabel.base import Photo, PrelabelError, class_scores, clip_box, file_sha256

NMS_IOU = 0.7  # ultralytics' predict default
MAX_DET = 300
MAX_NMS = 30000
MAX_WH = 7680  # per-class offset that keeps NMS within a class
PAD_VALUE = 114
MASK_PIXELS = 16_000_000  # float mask pixels held at once; masks are made and encoded in chunks


@dataclass(frozen=True)
class Letterbox:
    """How a photo of `width` x `height` sits in the model input of `size` (height, width)."""

    size: tuple[int, int]
    width: int
    height: int
    new_width: int
    new_height: int
    left: int
    top: int

    @classmethod
    def fit(cls, width: int, height: int, size: tuple[int, int]) -> Letterbox:
        ratio = min(size[0] / height, size[1] / width)
        new_width, new_height = max(round(width * ratio), 1), max(round(height * ratio), 1)
        left, top = round((size[1] - new_width) / 2 - 0.1), round((size[0] - new_height) / 2 - 0.1)
        return cls(size, width, height, new_width, new_height, left, top)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The HxWx3 uint8 photo resized and padded to the input size."""
        if (rgb.shape[1], rgb.shape[0]) != (self.new_width, self.new_height):
            rgb = cv2.resize(rgb, (self.new_width, self.new_height), interpolation=cv2.INTER_LINEAR)
        out = np.full((*self.size, 3), PAD_VALUE, dtype=np.uint8)
        out[self.top : self.top + self.new_height, self.left : self.left + self.new_width] = rgb
        return out

    def boxes_to_photo(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in input pixels -> photo pixels, clipped to the photo."""
        boxes = boxes.astype(np.float32).copy()
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.left) / (self.new_width / self.width)
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.top) / (self.new_height / self.height)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, self.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, self.height)
        return boxes

    def masks_to_photo(self, logits: np.ndarray) -> np.ndarray:
        """(K <= 512, h, w) mask logits at prototype resolution -> (K, height, width) logits on the
        photo: upsampled to the input, the padding cut off, resized to the photo (all bilinear)."""
        stack = np.ascontiguousarray(logits.transpose(1, 2, 0))  # cv2 resizes up to 512 channels at once
        stack = cv2.resize(stack, self.size[::-1], interpolation=cv2.INTER_LINEAR).reshape(*self.size, -1)
        stack = stack[self.top : self.top + self.new_height, self.left : self.left + self.new_width]
        stack = cv2.resize(stack, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return stack.reshape(self.height, self.width, -1).transpose(2, 0, 1)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS as torchvision.ops.nms: indices kept, best score first; a box goes when its IoU
    with a kept one is above the threshold."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0) * (y1 - y0)
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = (np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest])).clip(0)
        height = (np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest])).clip(0)
        inter = width * height
        order = rest[inter / (areas[best] + areas[rest] - inter) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def non_max_suppression(
    prediction: np.ndarray, nc: int, conf: float, iou: float = NMS_IOU, classes: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw head `(4 + nc + nm, N)` -> (kept rows `(K, 6 + nm)`: x0, y0, x1, y1, score,
    class, mask coefficients; their class scores `(K, nc)`): best class per box, scores of at least
    `conf` (synthgen's threshold rule; ultralytics keeps those above it), class-aware NMS."""
    rows = prediction.T
    scores = rows[:, 4 : 4 + nc]
    best = scores.argmax(1)
    score = scores[np.arange(len(rows)), best]
    keep = score >= conf
    if classes is not None:
        keep &= np.isin(best, classes)
    index = np.flatnonzero(keep)
    x = np.concatenate(
        [xywh_to_xyxy(rows[index, :4]), score[index, None], best[index, None].astype(rows.dtype), rows[index, 4 + nc :]],
        axis=1,
    )
    if len(x) > MAX_NMS:
        order = np.argsort(-x[:, 4], kind="stable")[:MAX_NMS]
        x, index = x[order], index[order]
    kept = nms(x[:, :4] + x[:, 5:6] * MAX_WH, x[:, 4], iou)[:MAX_DET]
    return x[kept], scores[index[kept]]


def end_to_end_rows(prediction: np.ndarray, conf: float, classes: list[int] | None = None) -> np.ndarray:
    """An end-to-end head `(N, 6 + nm)` (already xyxy, score, class; no NMS needed), filtered."""
    keep = prediction[:, 4] >= conf
    if classes is not None:
        keep &= np.isin(prediction[:, 5].astype(np.int64), classes)
    return prediction[keep][:MAX_DET]


def crop_masks(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Zero each mask outside its xyxy box (pixel columns x with x0 <= x < x1, rows likewise)."""
    _, height, width = masks.shape
    columns, rows = np.arange(width)[None, None, :], np.arange(height)[None, :, None]
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    return masks & (columns >= x0) & (columns < x1) & (rows >= y0) & (rows < y1)


def read_names(metadata: dict[str, str], path: Path) -> list[str] | None:
    """Class names by index from the exporter's `names` entry (a Python literal), or None."""
    if "names" not in metadata:
        return None
    try:
        names = ast.literal_eval(metadata["names"])
    except (ValueError, SyntaxError):
        names = None
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        names = [names[i] for i in range(len(names))]
    if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
        got = metadata["names"][:80]
        raise PrelabelError(f"{path}: metadata.names: expected a dict of class index -> name (got {got!r})")
    return names


def read_input_size(session, metadata: dict[str, str], path: Path) -> tuple[int, int]:
    """(height, width) the model takes: its static input shape, else the exporter's `imgsz`."""
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or shape[1] not in (3, "3") or isinstance(shape[0], int) and shape[0] != 1:
        raise PrelabelError(f"{path}: input: expected an image batch (1, 3, H, W), exported with batch=1 (got {shape})")
    if isinstance(shape[2], int) and isinstance(shape[3], int):
        return shape[2], shape[3]
    try:
        size = ast.literal_eval(metadata.get("imgsz", "640"))
    except (ValueError, SyntaxError):
        size = None
    size = [size, size] if isinstance(size, int) else size
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise PrelabelError(f"{path}: metadata.imgsz: expected [height, width] (got {metadata.get('imgsz')!r})")
    return int(size[0]), int(size[1])


def open_session(path: Path, device: str | None):
    """An onnxruntime session on CUDA when asked (or present and no device given), else CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    wants_cuda = device is None or device.startswith("cuda")
    if device and wants_cuda and "CUDAExecutionProvider" not in available:
        raise PrelabelError(f"--device {device}: this onnxruntime has no CUDA (install onnxruntime-gpu), or use --device cpu")
    providers = ["CUDAExecutionProvider"] if wants_cuda and "CUDAExecutionProvider" in available else []
    options = {"device_id": int(device.partition(":")[2] or 0)} if device and providers else {}
    try:
        return onnxruntime.InferenceSession(
            str(path), providers=[(p, options) for p in providers] + ["CPUExecutionProvider"]
        )
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own classes for any unreadable file
        raise PrelabelError(f"{path}: not a readable ONNX model: {str(error).splitlines()[0]}") from None


class YoloOnnxDetector:
    """A YOLO `.onnx` file: detection or segmentation head, class names from its metadata or `classes`."""

    def __init__(self, weights: Path, classes: list[str], threshold: float, device: str | None = None):
        self.path, self.threshold = Path(weights), threshold
        if not self.path.is_file():
            raise PrelabelError(f"--weights: {self.path} does not exist")
        self.session = open_session(self.path, device)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.size = read_input_size(self.session, metadata, self.path)
        self.end_to_end = metadata.get("end2end") == "True"
        self.names = read_names(metadata, self.path) or list(classes)
        if not self.names:
            raise PrelabelError(f"{self.path}: no class names in its metadata; name its classes in order with --classes")
        unknown = [name for name in classes if name not in self.names]
        if unknown:
            raise PrelabelError(f"--classes: {', '.join(unknown)} not among the model's classes ({', '.join(self.names)})")
        self.classes = list(classes) or list(self.names)
        self.class_ids = [self.names.index(name) for name in self.classes]
        self.input_name = self.session.get_inputs()[0].name
        self.input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32
        ranks = [len(output.shape) for output in self.session.get_outputs()]
        if sorted(ranks) not in ([3], [3, 4]):
            shapes = [output.shape for output in self.session.get_outputs()]
            raise PrelabelError(
                f"{self.path}: outputs: expected a YOLO head (1, 4+nc, N) [and prototypes (1, 32, h, w)] (got {shapes})"
            )
        self.task = "segment" if 4 in ranks else "detect"
        self.weights_sha256 = file_sha256(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "detector": "yolo",
            "weights_sha256": self.weights_sha256,
            "threshold": self.threshold,
            "task": self.task,
            "input_size": list(self.size),
        }

    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        return [self._predict_one(photo) for photo in photos]

    def raw_outputs(self, photo: Photo) -> tuple[Letterbox, np.ndarray, np.ndarray | None]:
        """(letterbox, head `(1, C, N)`, prototypes `(1, 32, h, w)` or None) for one photo."""
        box = Letterbox.fit(photo.image.width, photo.image.height, self.size)
        pixels = box.apply(np.asarray(photo.image.convert("RGB")))
        blob = pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255
        outputs = self.session.run(None, {self.input_name: blob.astype(self.input_dtype)})
        outputs = [output.astype(np.float32) for output in outputs]  # half-precision exports
        head = next(o for o in outputs if o.ndim == 3)
        protos = next((o for o in outputs if o.ndim == 4), None)
        self._check(head, protos)
        return box, head, protos

    def _check(self, head: np.ndarray, protos: np.ndarray | None) -> None:
        masks = protos.shape[1] if protos is not None else 0
        channels = 6 + masks if self.end_to_end else 4 + len(self.names) + masks
        axis = 2 if self.end_to_end else 1
        if head.shape[0] != 1 or head.shape[axis] != channels or (protos is not None and protos.shape[0] != 1):
            layout = f"(1, N, {channels})" if self.end_to_end else f"(1, {channels}, N)"
            raise PrelabelError(
                f"{self.path}: outputs: expected {layout} for {len(self.names)} classes and {masks} mask coefficients"
                f" (got {head.shape})"
            )

    def _predict_one(self, photo: Photo) -> list[Instance]:
        box, head, protos = self.raw_outputs(photo)
        selected = None if len(self.class_ids) == len(self.names) else self.class_ids
        if self.end_to_end:  # one score per box: no class scores
            rows = end_to_end_rows(head[0], self.threshold, selected)
            attributes = [{} for _ in rows]
        else:
            rows, scores = non_max_suppression(head[0], len(self.names), self.threshold, classes=selected)
            attributes = [
                {"class_scores": class_scores(self.classes, row_scores[self.class_ids].tolist(), self.names[int(row[5])])}
                for row, row_scores in zip(rows, scores)
            ]  # fmt: skip
        boxes = box.boxes_to_photo(rows[:, :4])
        if protos is not None:
            return self._mask_instances(rows, boxes, protos[0], box, attributes)
        instances = []
        for row, (x0, y0, x1, y1), extra in zip(rows, boxes.tolist(), attributes):
            xywh = clip_box((x0, y0, x1 - x0, y1 - y0), photo.image.width, photo.image.height)
            if xywh[2] > 0 and xywh[3] > 0:
                name, area = self.names[int(row[5])], xywh[2] * xywh[3]
                instances.append(Instance(category=name, box=xywh, area=area, score=float(row[4]), attributes=extra))
        return instances

    def _mask_instances(
        self, rows: np.ndarray, boxes: np.ndarray, protos: np.ndarray, box: Letterbox, attributes: list[dict[str, Any]]
    ) -> list[Instance]:
        """Masks (prototypes x coefficients, on the photo, cut to the box), a chunk of rows at a time;
        as ultralytics, a prediction whose mask is empty is dropped."""
        instances = []
        chunk = min(512, max(1, MASK_PIXELS // (box.width * box.height + box.size[0] * box.size[1])))
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            logits = (rows[part, 6:] @ protos.reshape(len(protos), -1)).reshape(-1, *protos.shape[1:])
            masks = crop_masks(box.masks_to_photo(logits) > 0, boxes[part])
            for row, mask, extra in zip(rows[part], masks, attributes[part]):
                if mask.any():
                    instances.append(Instance.from_mask(self.names[int(row[5])], mask, score=float(row[4]), attributes=extra))
        return instances
