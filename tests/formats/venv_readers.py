"""Run by the Python of a reader's own environment (FiftyOne, Datumaro), never by pytest: open
datasets with the reader's own importers and print what each read as JSON (a list, one per job),
one entry per image: `{"file": NAME, "width": W, "height": H, "objects": [[label, x, y, w, h,
mask_pixels], ...]}` with boxes in pixels and `mask_pixels` null for a box without a mask.
synthgen is not importable here. The jobs (one process: FiftyOne takes seconds to import):

    python venv_readers.py '[["fiftyone-coco", DATASET_FOLDER, ANNOTATIONS_JSON],
                             ["fiftyone-yolo", YOLO_FOLDER, "detect" or "segment"],
                             ["datumaro-coco", EXPORT_FOLDER]]'
"""

import json
import os
import sys


def fiftyone_coco(data_path, labels_path):
    import fiftyone.utils.coco as fouc

    importer = fouc.COCODetectionDatasetImporter(
        data_path=data_path, labels_path=labels_path, label_types=["detections", "segmentations"]
    )
    entries = []
    with importer:
        for path, metadata, labels in importer:
            width, height = metadata.width, metadata.height
            boxes = labels["detections"].detections if labels["detections"] else []
            masks = labels["segmentations"].detections if labels["segmentations"] else []
            objects = [
                [box.label, *_pixels(box.bounding_box, width, height), int(mask.mask.sum())]
                for box, mask in zip(boxes, masks, strict=True)
            ]
            entries.append({"file": os.path.relpath(path, data_path), "width": width, "height": height, "objects": objects})
    return entries


def fiftyone_yolo(dataset_dir, task):
    import fiftyone.utils.yolo as fouy
    from PIL import Image

    label_type = "polylines" if task == "segment" else "detections"
    importer = fouy.YOLOv5DatasetImporter(dataset_dir=dataset_dir, yaml_path="data.yaml", split="val", label_type=label_type)
    entries = []
    with importer:
        for path, _, labels in importer:
            with Image.open(path) as image:
                width, height = image.size
            if task == "segment":
                objects = [[p.label, *_polygon_box(p.points[0], width, height), None] for p in labels.polylines]
            else:
                objects = [[d.label, *_pixels(d.bounding_box, width, height), None] for d in labels.detections]
            entries.append({"file": os.path.relpath(path, dataset_dir), "width": width, "height": height, "objects": objects})
    return entries


def datumaro_coco(folder):
    import datumaro as dm

    dataset = dm.Dataset.import_from(folder, "coco")
    names = [c.name for c in dataset.categories()[dm.AnnotationType.label]]
    entries = []
    for item in dataset:
        height, width = item.media.data.shape[:2]
        boxes = {a.id: a for a in item.annotations if a.type == dm.AnnotationType.bbox}
        masks = {a.id: a for a in item.annotations if a.type == dm.AnnotationType.mask}
        objects = [
            [names[box.label], box.x, box.y, box.w, box.h, int(masks[i].image.sum()) if i in masks else None]
            for i, box in sorted(boxes.items())
        ]
        entries.append({"file": f"{item.subset}/{item.id}", "width": width, "height": height, "objects": objects})
    return entries


def _pixels(box, width, height):
    x, y, w, h = box
    return [x * width, y * height, w * width, h * height]


def _polygon_box(points, width, height):
    xs, ys = [p[0] * width for p in points], [p[1] * height for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


READERS = {"fiftyone-coco": fiftyone_coco, "fiftyone-yolo": fiftyone_yolo, "datumaro-coco": datumaro_coco}

if __name__ == "__main__":
    jobs = json.loads(sys.argv[1])
    print(json.dumps([sorted(READERS[name](*args), key=lambda e: e["file"]) for name, *args in jobs]))
