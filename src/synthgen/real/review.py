"""The review queue: choose the pre-labelled images most worth a person's time (`real.selection`),
export them to a labelling tool with predictions (boxes and masks) pre-filled, and import the
people's corrections as a new dataset folder.

Tools: Label Studio (tasks JSON + `labeling_config.xml`; masks as brush RLE or polygons), CVAT
(a "CVAT for images 1.1" XML task; masks as polygons or CVAT masks) and COCO. Beside every queue
`selection.json` lists each image's selection reason; Label Studio tasks and COCO images carry it
too, and it comes back into the reviewed sample's provenance. Reviewed images are never re-sent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from synthgen.errors import FormatError, InputError
from synthgen.fileio import atomic_write_json, atomic_write_text, inside
from synthgen.formats import cvat, labelstudio
from synthgen.formats.coco import CocoFormatError, read_coco, to_coco
from synthgen.formats.folder import load_dataset, write_dataset_folder
from synthgen.formats.rounds import EDIT_KEYS, append_round, read_rounds
from synthgen.labels import Dataset, Instance, Provenance, Sample
from synthgen.layout import ANNOTATIONS
from synthgen.real.selection import (
    Selected,
    backbone_embedder,
    image_uncertainty,
    match_boxes,
    select,
)

EXPORT_FORMATS = ("labelstudio", "cvat", "coco")
MASK_MODES = ("brush", "polygons", "none")
DEFAULT_MASKS = {"labelstudio": "brush", "cvat": "polygons", "coco": "brush"}
SELECTION_FILE = "selection.json"
MOVED_IOU = 0.95  # a kept box whose IoU with its pre-label is below this was moved


class ReviewError(InputError):
    """Bad review input; the message names the file and field."""


def is_reviewed(sample: Sample) -> bool:
    return sample.provenance.source == "human" or bool(sample.provenance.extra.get("reviewed"))


def review_queue(
    dataset: Dataset, budget: int, strategy: str = "uncertainty", compare: Dataset | None = None, embed=None
) -> list[Selected]:
    """The `budget` unreviewed samples most worth a person's time, in the order chosen."""
    return select(dataset, budget, strategy, compare=compare, embed=embed, is_reviewed=is_reviewed)


def export_review(
    dataset_dir: Path, budget: int, to: str, out: Path, image_root: str | None = None, *,
    strategy: str = "uncertainty", masks: str | None = None, compare: Path | None = None,
    embed_weights: Path | None = None,
) -> list[Selected]:  # fmt: skip
    """Write the review queue to `out` (tasks + `labeling_config.xml`, a CVAT XML task, or COCO)
    and `selection.json` beside it."""
    masks = _mask_mode(to, budget, masks)
    dataset = _load(dataset_dir)
    embed = backbone_embedder(Path(dataset_dir), embed_weights) if embed_weights is not None else None
    queue = review_queue(dataset, budget, strategy, _load(compare) if compare is not None else None, embed)
    if to == "coco":
        _write_coco(queue, dataset, out, masks)
    elif to == "cvat":
        atomic_write_text(out, cvat.to_cvat_xml([item.sample for item in queue], dataset.class_names, masks))
    else:
        root = image_root if image_root is not None else f"/data/local-files/?d={Path(dataset_dir).resolve().name}/"
        _write_labelstudio(queue, dataset, out, masks, root)
    reasons = [{"file_name": item.sample.file_name, "score": item.score, **item.reason} for item in queue]
    atomic_write_json(Path(out).parent / SELECTION_FILE, reasons)
    return queue


def _mask_mode(to: str, budget: int, masks: str | None) -> str:
    """The checked mask mode for tool `to` (its default when None)."""
    if to not in EXPORT_FORMATS:
        raise ReviewError(f"--to: unknown format {to!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if budget < 1:
        raise ReviewError(f"--budget: expected a number of images >= 1 (got {budget})")
    masks = masks or DEFAULT_MASKS[to]
    allowed = ("brush", "none") if to == "coco" else MASK_MODES
    if masks not in allowed:
        raise ReviewError(f"--masks: {masks!r} is not a mask mode for {to}; use one of {', '.join(allowed)}")
    return masks


def _write_coco(queue: list[Selected], dataset: Dataset, out: Path, masks: str) -> None:
    """The queue as COCO, each image's selection reason in its provenance."""
    data = to_coco(replace(dataset, samples=[_with_selection(item) for item in queue]))
    if masks == "none":
        for annotation in data["annotations"]:
            annotation.pop("segmentation", None)
    atomic_write_text(out, json.dumps(data))


def _write_labelstudio(queue: list[Selected], dataset: Dataset, out: Path, masks: str, root: str) -> None:
    """Label Studio tasks and, beside them, the labelling config their regions need."""
    tasks = [
        labelstudio.to_task(item.sample, root + item.sample.file_name, _model_version(item.sample), item.score,
                            {"uncertainty": round(image_uncertainty(item.sample), 6), "selection": item.reason}, masks)
        for item in queue
    ]  # fmt: skip
    atomic_write_json(out, tasks)
    atomic_write_text(Path(out).parent / "labeling_config.xml", labelstudio.labeling_config(dataset.class_names, masks))


def _with_selection(item: Selected) -> Sample:
    provenance = replace(item.sample.provenance, extra={**item.sample.provenance.extra, "selection": item.reason})
    return replace(item.sample, provenance=provenance)


def _model_version(sample: Sample) -> str:
    ids = sample.provenance.model_ids
    digest = ids.get("weights_sha256", "")[:12]
    return f"{ids.get('detector', 'unknown')}@{digest}" if digest else ids.get("detector", "unknown")


def _load(dataset_dir: Path) -> Dataset:
    try:
        return load_dataset(dataset_dir)
    except CocoFormatError as error:
        raise ReviewError(str(error)) from None


def import_review(dataset_dir: Path, export: Path, out: Path, rounds: Path | None = None) -> tuple[int, int]:
    """Replace the labels of reviewed images with the people's, keep the rest; write `out`, and with
    `rounds` append this round (images sent, reviewed, skipped, edits) to that log.
    Returns (reviewed images, skipped images among the exported)."""
    number = len(read_rounds(rounds, missing_ok=True)) + 1 if rounds is not None else None
    dataset = _load(dataset_dir)
    by_name = {s.file_name: s for s in dataset.samples}
    try:
        corrections, skipped = _read_corrections(Path(export), dataset, by_name)
    except FormatError as error:
        raise ReviewError(str(error)) from None
    samples = [corrections.get(s.file_name, s) for s in dataset.samples]
    reviewed = replace(dataset, samples=samples)
    edits = {key: sum(s.provenance.extra["review"]["edits"][key] for s in corrections.values()) for key in EDIT_KEYS}
    manifest = {"command": "review import", "source": str(dataset_dir), "export": str(export)}
    manifest |= {"reviewed": len(corrections), "skipped": len(skipped), "edits": edits}
    manifest |= {"round": number, "rounds": str(rounds)} if rounds is not None else {}
    where = f"{Path(dataset_dir) / ANNOTATIONS}: images[].file_name"
    write_dataset_folder(reviewed, out, [inside(Path(dataset_dir), s.file_name, where) for s in reviewed.samples], manifest)
    if rounds is not None:
        append_round(rounds, {
            "dataset": str(dataset_dir), "export": str(export), "out": str(out), "classes": dataset.class_names,
            "images_sent": len(corrections) + len(skipped), "images_reviewed": len(corrections),
            "images_skipped": len(skipped), "edits": edits,
        })  # fmt: skip
    return len(corrections), len(skipped)


def _read_corrections(
    export: Path, dataset: Dataset, by_name: dict[str, Sample]
) -> tuple[dict[str, Sample], list[str]]:
    """(corrected samples by file name, file names that were sent but skipped)."""
    head = _read_head(export)
    if head.startswith(b"PK") or head.lstrip().startswith(b"<"):
        return _cvat_corrections(export, dataset, by_name), []
    if head.lstrip().startswith(b"{"):
        return _coco_corrections(export, dataset, by_name)
    corrected: dict[str, Sample] = {}
    skipped: list[str] = []
    for position, task in enumerate(labelstudio.read_export(export)):
        where = f"{export}: [{position}]"
        name = labelstudio.task_file_name(task, where)
        sample = _sample_for(by_name, name, f"{where}.data.{labelstudio.FILE_KEY}")
        answer = labelstudio.final_annotation(task, where)
        if answer is None:
            skipped.append(name)
            continue
        index, annotation = answer
        instances = labelstudio.annotation_instances(
            annotation, dataset.class_names, f"{where}.annotations[{index}]", (sample.width, sample.height)
        )
        details = {"tool": "labelstudio", "annotation_id": annotation.get("id"), "by": annotation.get("completed_by"),
                   "selection": (task.get("data") or {}).get("selection")}  # fmt: skip
        corrected[name] = _human(sample, instances, details)
    return corrected, skipped


def _cvat_corrections(export: Path, dataset: Dataset, by_name: dict[str, Sample]) -> dict[str, Sample]:
    """Every image of a CVAT export counts as reviewed; names match file names, or unique base names."""
    by_base: dict[str, list[str]] = {}
    for name in by_name:
        by_base.setdefault(Path(name).name, []).append(name)

    def resolve(name: str, where: str) -> tuple[str, tuple[int, int]]:
        matches = [name] if name in by_name else by_base.get(Path(name).name, [])
        if len(matches) > 1:
            raise ReviewError(f"{where}: {name!r} matches several images ({', '.join(sorted(matches))})")
        original = _sample_for(by_name, matches[0] if matches else name, where)
        return original.file_name, (original.width, original.height)

    samples = cvat.read_cvat(export, dataset.class_names, resolve)
    return {s.file_name: _human(by_name[s.file_name], s.instances, {"tool": "cvat"}) for s in samples}


def _coco_corrections(
    export: Path, dataset: Dataset, by_name: dict[str, Sample]
) -> tuple[dict[str, Sample], list[str]]:
    """Every image of a COCO corrections file counts as reviewed; classes must be the dataset's."""
    coco = read_coco(export)
    unknown = [name for name in coco.class_names if name not in dataset.class_names]
    if unknown:
        raise ReviewError(f"{export}: categories[].name: unknown class {unknown[0]!r}")
    corrected: dict[str, Sample] = {}
    for position, sample in enumerate(coco.samples):
        original = _sample_for(by_name, sample.file_name, f"{export}: images[{position}].file_name")
        details = {"tool": "coco", "selection": sample.provenance.extra.get("selection")}
        corrected[original.file_name] = _human(original, sample.instances, details)
    return corrected, []


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(64)
    except OSError as error:
        raise ReviewError(f"{path}: cannot read: {error.strerror}") from None


def _sample_for(by_name: dict[str, Sample], name: str, where: str) -> Sample:
    if name not in by_name:
        raise ReviewError(f"{where}: {name!r} is not an image of the dataset")
    return by_name[name]


def review_edits(before: list[Instance], after: list[Instance]) -> dict[str, int]:
    """What a person changed: labels matched one to one by box IoU (any class); a match of another
    class was reclassified, one below IoU 0.95 (box, or mask when both have one) moved, the rest kept;
    unmatched pre-labels were removed and unmatched labels added."""
    matches = match_boxes(after, before, same_class=False)
    edits = dict.fromkeys(EDIT_KEYS, 0)
    for iou, i, j in matches:
        if after[i].category != before[j].category:
            edits["reclassified"] += 1
        elif _overlap(after[i], before[j], iou) < MOVED_IOU:
            edits["moved"] += 1
        else:
            edits["kept"] += 1
    edits["added"], edits["removed"] = len(after) - len(matches), len(before) - len(matches)
    return edits


def _overlap(a: Instance, b: Instance, iou: float) -> float:
    if a.mask is None or b.mask is None:
        return iou
    mask_a, mask_b = a.decode_mask(), b.decode_mask()
    return float((mask_a & mask_b).sum() / max(1, (mask_a | mask_b).sum()))


def _human(sample: Sample, instances: list[Instance], details: dict[str, Any]) -> Sample:
    """`sample` with a person's instances, its provenance now `human` (the detector kept as history)."""
    before = sample.provenance
    details = {**details, "edits": review_edits(sample.instances, instances)}
    extra = {**before.extra, "reviewed": True, "review": {k: v for k, v in details.items() if v is not None}}
    provenance = Provenance(source="human", model_ids=before.model_ids, origin=before.origin, extra=extra)
    return replace(sample, instances=[replace(i, score=None) for i in instances], provenance=provenance)
