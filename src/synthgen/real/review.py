"""The review queue: rank pre-labelled images by uncertainty, export the most useful to a labelling
tool with predictions pre-filled, and import the people's corrections as a new dataset folder.

Uncertainty. A prediction scored `s` is a coin flip at `s = 0.5` and sure at 0 or 1, so its
uncertainty is `1 - |2s - 1|`. An image is as uncertain as its most uncertain prediction (one
doubtful box is enough to need a person); ties go to the image with more doubtful boxes (above
0.5), then to file order. Images without predictions score 0; reviewed images are never re-sent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from synthgen.errors import InputError
from synthgen.fileio import (
    MAX_JSON_BYTES,
    atomic_write_json,
    atomic_write_text,
    inside,
    read_text,
)
from synthgen.formats import labelstudio
from synthgen.formats.coco import CocoFormatError, read_coco, to_coco
from synthgen.formats.folder import load_dataset, write_dataset_folder
from synthgen.labels import Dataset, Instance, Provenance, Sample
from synthgen.layout import ANNOTATIONS

EXPORT_FORMATS = ("labelstudio", "coco")


class ReviewError(InputError):
    """Bad review input; the message names the file and field."""


def instance_uncertainty(instance: Instance) -> float:
    """1 at score 0.5, 0 at scores 0 and 1; labels without a score (a person's) are certain."""
    return 0.0 if instance.score is None else 1.0 - abs(2.0 * instance.score - 1.0)


def image_uncertainty(sample: Sample) -> float:
    return max((instance_uncertainty(i) for i in sample.instances), default=0.0)


def is_reviewed(sample: Sample) -> bool:
    return sample.provenance.source == "human" or bool(sample.provenance.extra.get("reviewed"))


def review_queue(dataset: Dataset, budget: int) -> list[Sample]:
    """The `budget` unreviewed samples most worth a person's time, most uncertain first."""

    def priority(sample: Sample) -> tuple[float, int, str]:
        doubtful = sum(instance_uncertainty(i) > 0.5 for i in sample.instances)
        return (-image_uncertainty(sample), -doubtful, sample.file_name)

    return sorted((s for s in dataset.samples if not is_reviewed(s)), key=priority)[:budget]


def export_review(
    dataset_dir: Path, budget: int, to: str, out: Path, image_root: str | None = None
) -> list[Sample]:
    """Write the review queue to `out` (Label Studio tasks + `labeling_config.xml`, or COCO)."""
    if to not in EXPORT_FORMATS:
        raise ReviewError(f"--to: unknown format {to!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if budget < 1:
        raise ReviewError(f"--budget: expected a number of images >= 1 (got {budget})")
    dataset = _load(dataset_dir)
    queue = review_queue(dataset, budget)
    if to == "coco":
        atomic_write_text(out, json.dumps(to_coco(replace(dataset, samples=queue))))
        return queue
    root = image_root if image_root is not None else f"/data/local-files/?d={Path(dataset_dir).resolve().name}/"
    tasks = [
        labelstudio.to_task(s, root + s.file_name, _model_version(s), round(image_uncertainty(s), 6)) for s in queue
    ]
    atomic_write_json(out, tasks)
    atomic_write_text(out.parent / "labeling_config.xml", labelstudio.labeling_config(dataset.class_names))
    return queue


def _model_version(sample: Sample) -> str:
    ids = sample.provenance.model_ids
    digest = ids.get("weights_sha256", "")[:12]
    return f"{ids.get('detector', 'unknown')}@{digest}" if digest else ids.get("detector", "unknown")


def _load(dataset_dir: Path) -> Dataset:
    try:
        return load_dataset(dataset_dir)
    except CocoFormatError as error:
        raise ReviewError(str(error)) from None


def import_review(dataset_dir: Path, export: Path, out: Path) -> tuple[int, int]:
    """Replace the labels of reviewed images with the people's, keep the rest; write `out`.
    Returns (reviewed images, skipped images among the exported)."""
    dataset = _load(dataset_dir)
    by_name = {s.file_name: s for s in dataset.samples}
    corrections, skipped = _read_corrections(Path(export), dataset, by_name)
    samples = [corrections.get(s.file_name, s) for s in dataset.samples]
    reviewed = replace(dataset, samples=samples)
    manifest = {"command": "review import", "source": str(dataset_dir), "export": str(export)}
    manifest |= {"reviewed": len(corrections), "skipped": len(skipped)}
    where = f"{Path(dataset_dir) / ANNOTATIONS}: images[].file_name"
    write_dataset_folder(reviewed, out, [inside(Path(dataset_dir), s.file_name, where) for s in reviewed.samples], manifest)
    return len(corrections), len(skipped)


def _read_corrections(
    export: Path, dataset: Dataset, by_name: dict[str, Sample]
) -> tuple[dict[str, Sample], list[str]]:
    """(corrected samples by file name, file names that were sent but skipped)."""
    text = read_text(export, MAX_JSON_BYTES)
    if text.lstrip().startswith("{"):
        return _coco_corrections(export, dataset, by_name)
    corrected: dict[str, Sample] = {}
    skipped: list[str] = []
    for position, task in enumerate(labelstudio.read_export(export)):
        where = f"{export}: [{position}]"
        try:
            name = labelstudio.task_file_name(task, where)
            sample = _sample_for(by_name, name, f"{where}.data.{labelstudio.FILE_KEY}")
            answer = labelstudio.final_annotation(task, where)
            if answer is None:
                skipped.append(name)
                continue
            index, annotation = answer
            instances = labelstudio.annotation_instances(annotation, dataset.class_names, f"{where}.annotations[{index}]")
        except labelstudio.LabelStudioFormatError as error:
            raise ReviewError(str(error)) from None
        details = {"tool": "labelstudio", "annotation_id": annotation.get("id"), "by": annotation.get("completed_by")}
        corrected[name] = _human(sample, instances, details)
    return corrected, skipped


def _coco_corrections(
    export: Path, dataset: Dataset, by_name: dict[str, Sample]
) -> tuple[dict[str, Sample], list[str]]:
    """Every image of a COCO corrections file counts as reviewed; classes must be the dataset's."""
    try:
        coco = read_coco(export)
    except CocoFormatError as error:
        raise ReviewError(str(error)) from None
    unknown = [name for name in coco.class_names if name not in dataset.class_names]
    if unknown:
        raise ReviewError(f"{export}: categories[].name: unknown class {unknown[0]!r}")
    corrected: dict[str, Sample] = {}
    for position, sample in enumerate(coco.samples):
        original = _sample_for(by_name, sample.file_name, f"{export}: images[{position}].file_name")
        corrected[original.file_name] = _human(original, sample.instances, {"tool": "coco"})
    return corrected, []


def _sample_for(by_name: dict[str, Sample], name: str, where: str) -> Sample:
    if name not in by_name:
        raise ReviewError(f"{where}: {name!r} is not an image of the dataset")
    return by_name[name]


def _human(sample: Sample, instances: list[Instance], details: dict[str, Any]) -> Sample:
    """`sample` with a person's instances, its provenance now `human` (the detector kept as history)."""
    before = sample.provenance
    extra = {**before.extra, "reviewed": True, "review": {k: v for k, v in details.items() if v is not None}}
    provenance = Provenance(source="human", model_ids=before.model_ids, origin=before.origin, extra=extra)
    return replace(sample, instances=[replace(i, score=None) for i in instances], provenance=provenance)
