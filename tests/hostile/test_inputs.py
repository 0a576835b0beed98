"""Hostile inputs, one row each, through the real `synthgen` command line (tests/hostile/conftest.py):
the exit code, words the message must hold, no traceback, no secret printed, inputs unchanged, and
nothing written outside the output path (nothing at all when the command fails with exit 1).

Classes (issue 11): 1 numbers, 2 paths and links, 3 images, 4 recipes, 7 tracebacks, 8 semantics.
`{in}` is the inputs folder, `{out}` the output path; cases run in an empty working folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_builders import (
    SECRET,
    Build,
    alias_bomb,
    at,
    base_coco,
    both,
    coco_dataset,
    fifo,
    file,
    hdf5_frame,
    huge_png,
    json_file,
    labelstudio_export,
    link_outside,
    outside,
    photos,
    prelabelled,
    recipe,
    rectangle,
    sparse,
    voc_folder,
    yolo_folder,
)  # fmt: skip

NAN, INF = float("nan"), float("inf")


@dataclass(frozen=True)
class Case:
    name: str
    klass: int  # the class of failure
    args: tuple[str, ...]
    build: Build
    code: int
    words: tuple[str, ...]


def case(name: str, klass: int, args: str, build: Build, code: int, *words: str) -> Case:
    return Case(name, klass, tuple(args.split()), build, code, words)


CONVERT = "convert {in}/ds -o {out}"
CHECK = "check {in}/ds"
MIX = "mix {in}/ds -o {out}"
PRELABEL = "prelabel {in}/photos -o {out} --from-results {in}/results.json --classes box"
EVAL = "eval {in}/ds/annotations.json {in}/results.json"
IMPORT = "review import {in}/ds {in}/export.json -o {out}"
VALIDATE = "validate {in}/r.yaml"
NAN_POLYGON = at("annotations.0.segmentation", [[1, 1, NAN, 1, 5, 4, 1, 4]])
RESULT = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "score": 0.9}
BIG_IMAGE = lambda folder: huge_png(folder / "images/a.png")
OBJ_LINE = "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"  # a face whose vertices lie on a line
OBJ_DOTS = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"  # vertices, no face
EXR = (b"v/1\x01" + bytes(60))  # EXR magic only (enough for the load-time check)
ROUND = {"round": 1, "dataset": "ds", "export": "export.json", "out": "out", "classes": ["box"], "images_sent": 1,
         "images_reviewed": 1, "images_skipped": 0, "edits": dict.fromkeys(("kept", "added", "removed", "moved", "reclassified"), 0),
         "ap_before": None, "ap_after": None}  # fmt: skip
ROUNDS = " --rounds {in}/rounds.json"

CASES = [
    # 1. numbers: finite and in range where read
    case("coco-nan-polygon-check", 1, CHECK, coco_dataset(NAN_POLYGON), 1, "segmentation[0]: expected a polygon [x1, y1, x2, y2, x3, y3, ...] of finite numbers"),
    case("coco-nan-polygon-convert", 1, CONVERT, coco_dataset(NAN_POLYGON), 1, "annotations[0].segmentation[0]"),
    case("coco-nan-polygon-eval", 1, EVAL, both(coco_dataset(NAN_POLYGON), json_file("results.json", [RESULT])), 1, "segmentation[0]: expected a polygon [x1, y1, x2, y2, x3, y3, ...] of finite numbers"),
    case("results-nan-polygon-prelabel", 1, PRELABEL, photos([{**RESULT, "segmentation": [[1, 1, NAN, 2, 3, 3]]}]), 1, "[0].segmentation[0]: expected a polygon"),
    case("coco-far-polygon-check", 1, CHECK, coco_dataset(at("annotations.0.segmentation", [[0, 0, 1e12, 0, 1e12, 1e12]])), 1, "near the 8x6 image"),
    case("coco-long-polygon-check", 1, CHECK, coco_dataset(at("annotations.0.segmentation", [[0, 0, 8, 6] * 2000 + [0, 6]])), 1, "image perimeters long"),
    case("coco-inf-bbox-convert", 1, CONVERT, coco_dataset(at("annotations.0.segmentation", []), at("annotations.0.bbox", [1, 1, INF, 2])), 1, "bbox: expected [x, y, w, h] of 4 finite numbers"),
    case("coco-negative-bbox-mix", 1, MIX, coco_dataset(at("annotations.0.segmentation", []), at("annotations.0.bbox", [1, 1, -3, 2])), 1, "bbox: expected a box with w, h >= 0"),
    case("coco-nan-bbox-mix", 1, MIX, coco_dataset(at("annotations.0.segmentation", []), at("annotations.0.bbox", [NAN, 1, 3, 2])), 1, "bbox: expected"),
    case("coco-nan-area-convert", 1, CONVERT, coco_dataset(at("annotations.0.segmentation", []), at("annotations.0.area", NAN)), 1, "area: expected a number in [0, inf]"),
    case("coco-huge-int-bbox-check", 1, CHECK, coco_dataset(at("annotations.0.segmentation", []), at("annotations.0.bbox", [1, 1, 10**400, 2])), 1, "bbox: expected [x, y, w, h] numbers"),
    case("coco-huge-int-id-convert", 1, CONVERT, coco_dataset(at("images.0.id", 10**400)), 1, "images[0].id: expected an id"),
    case("coco-rle-wrong-size-convert", 1, CONVERT, coco_dataset(at("annotations.0.segmentation", {"size": [100000, 100000], "counts": [0, 10]})), 1, "segmentation.size: expected the image's [height, width] [6, 8]"),
    case("coco-rle-short-runs-convert", 1, CONVERT, coco_dataset(at("annotations.0.segmentation", {"size": [6, 8], "counts": "05"})), 1, "segmentation.counts: expected runs covering the image's 48 pixels"),
    case("coco-huge-size-convert", 1, CONVERT, coco_dataset(at("images.0.width", 10**6), at("images.0.height", 10**6)), 1, "images[0].width: expected at most 89478485 pixels"),
    case("coco-score-5-convert", 1, CONVERT, coco_dataset(at("annotations.0.score", 5)), 1, "annotations[0].score: expected a number in [0, 1]"),
    case("yolo-nan-coordinate", 1, "convert {in}/yolo -o {out}", yolo_folder("0 nan 0.5 0.1 0.1\n"), 1, "a.txt:1: field 2: expected a number in [-1, 2]"),
    case("yolo-far-polygon", 1, "convert {in}/yolo -o {out}", yolo_folder("0 0 0 1e9 0 1e9 1e9\n"), 1, "field 4: expected a number in [-1, 2]"),
    case("voc-nan-box", 1, "convert {in}/voc -o {out}", voc_folder(box="<xmin>nan</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"), 1, "bndbox.xmin: expected a finite number"),
    case("labelstudio-nan-x", 1, IMPORT, both(coco_dataset(prelabelled()), labelstudio_export([rectangle(x=NAN)])), 1, "result[0].value.x: expected a number in [0, 100]"),
    case("labelstudio-zero-width", 1, IMPORT, both(coco_dataset(prelabelled()), labelstudio_export([{**rectangle(), "original_width": 0}])), 1, "original_width: expected a whole number in [1,"),
    case("review-coco-negative-box", 1, IMPORT, both(coco_dataset(prelabelled()), json_file("export.json", {**base_coco(), "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, -2, 2]}]})), 1, "bbox: expected a box with w, h >= 0"),
    case("rounds-huge-round-number", 1, IMPORT + ROUNDS, both(coco_dataset(prelabelled()), json_file("rounds.json", {"rounds": [{**ROUND, "round": 10**400}]})), 1, "rounds.json: rounds[0].round: expected a whole number in [1,"),
    case("rounds-nan-ap", 1, EVAL + ROUNDS + " --stage after", both(coco_dataset(), json_file("results.json", [RESULT]), json_file("rounds.json", {"rounds": [{**ROUND, "ap_before": {"ap": NAN}}]})), 1, "rounds[0].ap_before.ap: expected a number in [0, 1]"),
    case("results-score-inf-eval", 1, EVAL, both(coco_dataset(), json_file("results.json", [{**RESULT, "score": INF}])), 1, "[0].score: expected a number in [0, 1]"),
    case("prelabel-nan-threshold", 1, PRELABEL + " --threshold nan", photos([RESULT]), 1, "--threshold: expected a number in [0, 1] (got nan)"),
    case("prelabel-zero-batch", 1, PRELABEL + " --batch-size 0", photos([RESULT]), 1, "--batch-size: expected a whole number >= 1 (got 0)"),
    case("train-nan-lr", 1, "train {in}/ds -o {out} --lr nan", coco_dataset(), 1, "--lr: expected a finite number > 0 (got nan)"),
    case("train-zero-epochs", 1, "train {in}/ds -o {out} --epochs 0", coco_dataset(), 1, "--epochs: expected a whole number >= 1 (got 0)"),
    case("recipe-nan-scale", 1, VALIDATE, recipe(at("classes.0.scale", NAN)), 1, "classes[0].scale: expected a finite number"),
    case("recipe-inf-size", 1, VALIDATE, recipe(at("classes.0.size", INF)), 1, "classes[0].size: Input should be a finite number"),
    case("recipe-inf-camera-distance", 1, VALIDATE, recipe(at("scene.camera.distance", [4, INF])), 1, "scene.camera.distance: expected a finite number"),
    case("recipe-nan-light-energy", 1, VALIDATE, recipe(at("scene", {"lights": {"energy": NAN}})), 1, "scene.lights.energy: expected a finite number"),
    case("recipe-negative-seed", 1, VALIDATE, recipe(at("seed", -1)), 1, "seed: Input should be greater than or equal to 0"),
    case("cli-negative-seed", 1, "render {in}/r.yaml -o {out} --seed -5", recipe(), 1, "--seed: expected a whole number from 0"),
    case("recipe-huge-instance-count", 1, VALIDATE, recipe(at("classes.1.count", [1, 10**9])), 1, "classes[1].count: must be <= 1000"),
    case("recipe-huge-number", 1, VALIDATE, recipe(at("scene.camera.focal_length", 1e300)), 1, "focal_length: expected a finite number within"),
    case("hdf5-frame-accepted", 1, "convert {in}/frames -o {out}", hdf5_frame(b"[]"), 0, ""),
    case("hdf5-huge-frame", 3, "convert {in}/frames -o {out}", hdf5_frame(b"[]", side=30000), 1, "colors: expected an image of at most 89478485 pixels"),
    # 2. paths and links: resolved (links followed) and kept inside their folder; no file's contents printed
    case("convert-image-linked-outside", 2, CONVERT, coco_dataset(image=link_outside("images/a.png")), 1, "images[0].file_name: 'images/a.png' links to a file outside"),
    case("mix-image-linked-outside", 2, MIX, coco_dataset(image=link_outside("images/a.png")), 1, "links to a file outside"),
    case("prelabel-photo-linked-outside", 2, PRELABEL, photos(image=link_outside("000000000001.png")), 1, "unreadable photo", "escapes"),
    case("yolo-label-linked-outside", 2, "convert {in}/yolo -o {out}", yolo_folder("", label_link=True), 1, "labels/a.txt"),
    case("coco-parent-file-name", 2, CONVERT, coco_dataset(at("images.0.file_name", "../../outside/secret.png")), 1, "leaves the image root"),
    case("coco-absolute-file-name", 2, MIX, coco_dataset(at("images.0.file_name", "/etc/passwd")), 1, "leaves the image root"),
    case("check-image-linked-outside", 2, CHECK, coco_dataset(image=link_outside("images/a.png")), 1, "images[0].file_name: 'images/a.png' leaves the dataset folder"),
    case("review-file-name-escapes", 2, IMPORT, both(coco_dataset(prelabelled(at("images.0.file_name", "../x.png"))), labelstudio_export(task={"data": {"synthgen_file_name": "../x.png"}, "annotations": []})), 1, "escapes"),
    case("yolo-export-in-dataset-accepted", 2, "convert {in}/ds/yolo -o {out}", both(coco_dataset(), file("ds/yolo/data.yaml", "names: [box]\n"), file("ds/yolo/images/a.png", lambda p: p.symlink_to("../../images/a.png")), file("ds/yolo/labels/a.txt", "0 0.5 0.5 0.25 0.5\n")), 0, ""),
    # 3. images: decoded pixels capped everywhere, assets open at load
    case("check-huge-png", 3, CHECK, coco_dataset(image=BIG_IMAGE), 1, "unreadable image images/a.png: expected at most 89478485 pixels (got more than 178956970)"),
    case("preview-huge-png", 3, "preview {in}/ds -o {out}.png", coco_dataset(image=BIG_IMAGE), 1, "expected at most 89478485 pixels"),
    case("report-huge-png", 3, "report {in}/ds -o {out}.html", coco_dataset(image=BIG_IMAGE), 1, "expected at most 89478485 pixels"),
    case("mix-huge-png", 3, MIX, coco_dataset(image=BIG_IMAGE), 1, "expected at most 89478485 pixels"),
    case("prelabel-huge-png", 3, PRELABEL, photos(image=lambda f: huge_png(f / "000000000001.png")), 1, "1 unreadable photo"),
    case("prelabel-huge-png-skip-bad", 3, PRELABEL + " --skip-bad", photos(image=lambda f: huge_png(f / "000000000001.png")), 0, "skipped:", "expected at most 89478485 pixels"),
    case("yolo-huge-png", 3, "convert {in}/yolo -o {out}", both(yolo_folder(""), file("yolo/images/a.png", huge_png)), 1, "expected at most 89478485 pixels"),
    case("texture-not-an-image", 3, VALIDATE, recipe(at("classes.1.material", {"textures": "tex.png"}), extra=file("tex.png", "not a png")), 1, "classes[1].material.textures:", "not an image Pillow can read"),
    case("hdri-not-an-exr", 3, VALIDATE, recipe(at("scene", {"world": {"hdri": "sky.exr"}}), extra=file("sky.exr", "plain text")), 1, "scene.world.hdri:", "not an EXR image"),
    case("hdri-exr-accepted", 3, VALIDATE, recipe(at("scene", {"world": {"hdri": "sky.exr"}}), extra=file("sky.exr", EXR)), 0, ""),
    case("background-huge-photo", 3, VALIDATE, recipe(at("scene", {"background": {"photos": "bg"}}), extra=file("bg/a.png", huge_png)), 1, "scene.background.photos:", "at most 89478485 pixels"),
    case("check-fifo-image", 3, CHECK, coco_dataset(image=lambda f: fifo("images/a.png")(f)), 1, "unreadable image images/a.png: not a regular file"),
    # 4. recipes
    case("recipe-alias-bomb", 4, VALIDATE, recipe(text=alias_bomb()), 1, "more than 64 YAML aliases"),
    case("recipe-binary", 4, VALIDATE, recipe(text=None, extra=file("r.yaml", bytes(range(256)) * 4)), 1, "r.yaml: expected UTF-8 text"),
    case("recipe-deep-nesting", 4, VALIDATE, recipe(text="x: " + "[" * 5000 + "]" * 5000 + "\n"), 1, "nested more than 100 levels deep"),
    case("recipe-too-large", 4, VALIDATE, recipe(text="# " + "x" * 2 * 1024**2 + "\n"), 1, "more than the 1048576 this reader accepts"),
    case("recipe-is-a-fifo", 4, "validate {in}/pipe.yaml", fifo("pipe.yaml"), 1, "pipe.yaml: not a regular file"),
    case("recipe-count-1e12", 4, VALIDATE, recipe(at("count", 10**12)), 1, "count: Input should be less than or equal to 1000000"),
    case("cli-count-1e12", 4, "render {in}/r.yaml -o {out} --count 1000000000000", recipe(), 1, "--count: expected 1 to 1000000 images"),
    case("asset-fifo-obj", 4, VALIDATE, recipe(at("classes.0.asset", "pipe.obj"), extra=fifo("pipe.obj")), 1, "classes[0].asset:", "pipe.obj: not a regular file"),
    case("asset-root-folder", 4, VALIDATE, recipe(at("classes.0.asset", "/")), 1, "classes[0].asset: /: a system folder"),
    case("asset-proc-folder", 4, VALIDATE, recipe(at("classes.0.asset", "/proc/self")), 1, "a system folder"),
    case("diffusion-backgrounds-root", 4, VALIDATE, recipe(at("backend", "diffusion"), at("image", {"width": 64, "height": 48}), at("diffusion", {"mode": "inpaint", "model": "hub/sd", "backgrounds": "/"})), 1, "diffusion.backgrounds: /: a system folder"),
    case("missing-asset-with-schema-errors", 4, VALIDATE, recipe(at("colour", "red"), at("classes.0.asset", "gone.obj")), 1, "colour: unknown key", "classes[0].asset: no such file or folder"),
    case("markup-brackets-kept", 4, VALIDATE, recipe(at("classes.1.count", [1, 2, 3])), 1, "classes[1].count: expected [min, max], got 3 values"),
    case("markup-tags-kept", 4, VALIDATE, recipe(at("classes.1.name", "[/bold]"), at("classes.0.name", "[/bold]")), 1, "class name '[/bold]' appears twice"),
    case("degenerate-mesh-render", 4, "render {in}/r.yaml -o {out} --quiet", recipe(at("classes", [{"name": "line", "asset": "line.obj"}]), at("count", 1), at("render", {"engine": "workbench", "samples": 1}), extra=file("line.obj", OBJ_LINE)), 2, "line.obj: expected a mesh with area"),
    case("faceless-mesh-render", 4, "render {in}/r.yaml -o {out} --quiet", recipe(at("classes", [{"name": "dots", "asset": "dots.obj"}]), at("count", 1), at("render", {"engine": "workbench", "samples": 1}), extra=file("dots.obj", OBJ_DOTS)), 2, "dots.obj: expected a mesh with faces"),
    case("class-never-labelled-warns", 4, "render {in}/r.yaml -o {out} --quiet", recipe(at("classes", [{"name": "cone", "primitive": "cone"}]), at("labels", {"min_area": 4000}), at("count", 1), at("render", {"engine": "workbench", "samples": 1})), 0, "warning: class 'cone': 0 instances in 1 images"),
    # 7. tracebacks: each a one-line message naming file and field, exit 1
    case("coco-unhashable-image-id", 7, CONVERT, coco_dataset(at("images.0.id", [1])), 1, "images[0].id: expected an id"),
    case("check-unhashable-ids", 7, CHECK, coco_dataset(at("images.0.id", {"a": 1}), at("annotations.0.category_id", [1])), 1, "images[0].id: expected an id", "annotations[0].category_id: expected an id"),
    case("coco-nul-file-name", 7, CONVERT, coco_dataset(at("images.0.file_name", "images/a\0.png")), 1, "images[0].file_name: expected a non-empty string without NUL bytes"),
    case("check-nul-file-name", 7, CHECK, coco_dataset(at("images.0.file_name", "images/a\0.png")), 1, "images[0].file_name: expected a non-empty string without NUL bytes"),
    case("coco-nul-category", 7, CONVERT, coco_dataset(at("categories.0.name", "b\0x")), 1, "categories[0].name: expected"),
    case("coco-string-segmentation", 7, CONVERT, coco_dataset(at("annotations.0.segmentation", "abc")), 1, "segmentation: expected polygons"),
    case("check-string-segmentation", 7, CHECK, coco_dataset(at("annotations.0.segmentation", "abc")), 1, "segmentation: expected polygons"),
    case("coco-provenance-not-object", 7, CONVERT, coco_dataset(at("images.0.provenance", [1])), 1, "images[0].provenance: expected an object"),
    case("coco-float-category-id", 7, CONVERT, coco_dataset(at("categories.0.id", 1.5)), 1, "categories[0].id: expected a whole number"),
    case("coco-truncated-json", 7, CONVERT, coco_dataset(text='{"images": [{"id": 1'), 1, "annotations.json: not valid JSON"),
    case("coco-top-level-list", 7, CONVERT, coco_dataset(text="[1, 2]"), 1, "annotations.json: expected an object"),
    case("coco-deep-json", 7, CONVERT, coco_dataset(text="[" * 100000 + "]" * 100000), 1, "nested more than 100 levels deep"),
    case("coco-not-utf8", 7, CHECK, both(coco_dataset(), file("ds/annotations.json", b'{"images": "\xff"}')), 1, "expected UTF-8 text"),
    case("labelstudio-result-not-object", 7, IMPORT, both(coco_dataset(prelabelled()), labelstudio_export(["a string"])), 1, "annotations[0].result[0]: expected an object"),
    case("labelstudio-annotations-not-list", 7, IMPORT, both(coco_dataset(prelabelled()), labelstudio_export(task={"data": {"synthgen_file_name": "images/a.png"}, "annotations": "x"})), 1, "[0].annotations: expected a list"),
    case("labelstudio-truncated-json", 7, IMPORT, both(coco_dataset(prelabelled()), file("export.json", '[{"data": ')), 1, "export.json: not valid JSON"),
    case("rounds-not-an-object", 7, IMPORT + ROUNDS, both(coco_dataset(prelabelled()), json_file("rounds.json", [ROUND])), 1, "rounds.json: expected an object"),
    case("rounds-truncated-json", 7, IMPORT + ROUNDS, both(coco_dataset(prelabelled()), file("rounds.json", '{"rounds": [{"round": ')), 1, "rounds.json: not valid JSON"),
    case("voc-inf-size", 7, "convert {in}/voc -o {out}", voc_folder(size="<width>inf</width><height>6</height>"), 1, "size.width: expected a finite number"),
    case("voc-entity-bomb", 7, "convert {in}/voc -o {out}", voc_folder(head='<!DOCTYPE a [<!ENTITY a "aaaa">]>'), 1, "without a DOCTYPE or entities"),
    case("yolo-inf-class", 7, "convert {in}/yolo -o {out}", yolo_folder("inf 0.5 0.5 0.1 0.1\n"), 1, "a.txt:1: class: expected a whole number"),
    case("yolo-names-not-list", 7, "convert {in}/yolo -o {out}", yolo_folder("", names="names: 7\n"), 1, "data.yaml: names: expected a list"),
    case("results-entry-not-object", 7, EVAL, both(coco_dataset(), json_file("results.json", [7])), 1, "results.json: [0]: expected an object"),
    case("images-json-not-list", 7, PRELABEL + " --images-json {in}/images.json", photos(images_json={"images": 3, "categories": []}), 1, "images.json: images: expected a list"),
    case("coco-json-over-2gib", 7, CONVERT, both(coco_dataset(), sparse("ds/annotations.json", 3 * 1024**3)), 1, "3221225472 bytes is more than the 2147483648"),
    case("coco-bad-provenance-source", 7, CONVERT, coco_dataset(at("images.0.provenance", {"source": "alien"})), 1, "provenance.source: expected render, diffusion"),
    case("coco-provenance-model-ids", 7, CONVERT, coco_dataset(at("images.0.provenance", {"model_ids": {"detector": [1]}})), 1, "provenance.model_ids.detector: expected"),
    case("coco-iscrowd-2", 7, CONVERT, coco_dataset(at("annotations.0.iscrowd", 2)), 1, "annotations[0].iscrowd: expected 0 or 1"),
    case("results-string-segmentation", 7, PRELABEL, photos([{**RESULT, "segmentation": "abc"}]), 1, "[0].segmentation: expected polygons or an RLE"),
    case("yolo-names-gap", 7, "convert {in}/yolo -o {out}", yolo_folder("", names="names: {0: a, 5: b}\n"), 1, "names: expected a mapping from class indices 0..N-1"),
    case("classes-file-binary", 7, PRELABEL + " --classes-file {in}/classes.txt", both(photos(), file("classes.txt", b"\xff\xfe")), 1, "classes.txt: expected UTF-8 text"),
    case("hdf5-bad-attributes", 7, "convert {in}/frames -o {out}", hdf5_frame(b'[{"idx": "one"}]'), 1, "instance_attribute_maps[0].idx: expected a whole number"),
    case("hdf5-not-json-attributes", 7, "convert {in}/frames -o {out}", hdf5_frame(b"\xff{"), 1, "instance_attribute_maps: expected a JSON list"),
    # 8. semantics: what would be silently wrong is an error
    case("eval-segm-without-masks", 8, EVAL + " --iou-type segm", both(coco_dataset(), json_file("results.json", [RESULT])), 1, "[0].segmentation: expected a mask for --iou-type segm"),
    case("eval-segm-truth-without-masks", 8, EVAL + " --iou-type segm", both(coco_dataset(at("annotations.0.segmentation", [])), json_file("results.json", [RESULT])), 1, "annotations[0].segmentation: expected a mask for --iou-type segm"),
    case("eval-bbox-accepted", 8, EVAL, both(coco_dataset(), json_file("results.json", [RESULT])), 0, ""),
    case("eval-rounds-validation-class-unknown", 8, EVAL + ROUNDS + " --stage before", both(coco_dataset(), json_file("results.json", [RESULT]), json_file("rounds.json", {"rounds": [{**ROUND, "classes": ["crate"]}]})), 1, "categories[].name: class 'box' is not among round 1's classes (crate)"),
    case("eval-rounds-without-stage", 8, EVAL + ROUNDS, both(coco_dataset(), json_file("results.json", [RESULT])), 1, "--rounds, --stage: give both"),
    case("review-budget-negative", 8, "review export {in}/ds -o {out}.json --budget -1", coco_dataset(prelabelled()), 1, "--budget: expected a number of images >= 1 (got -1)"),
    case("review-budget-zero", 8, "review export {in}/ds -o {out}.json --budget 0", coco_dataset(prelabelled()), 1, "--budget: expected a number of images >= 1 (got 0)"),
    case("coco-duplicate-category-name", 8, CONVERT, coco_dataset(lambda d: d["categories"].append({"id": 2, "name": "box"})), 1, "categories: expected each name once"),
    case("coco-duplicate-category-id", 8, MIX, coco_dataset(lambda d: d["categories"].append({"id": 1, "name": "other"})), 1, "categories: expected each id once"),
    case("labelstudio-two-labels", 8, IMPORT, both(coco_dataset(prelabelled()), labelstudio_export([rectangle(rectanglelabels=["box", "box"])])), 1, "rectanglelabels: expected exactly one class name"),
    case("coco-duplicate-image-id", 8, CONVERT, coco_dataset(lambda d: d["images"].append({**d["images"][0], "file_name": "images/b.png"})), 1, "images[1].id: expected an id no other image has"),
]


@pytest.mark.parametrize("row", CASES, ids=[c.name for c in CASES])
def test_hostile_input(row: Case, tmp_path: Path, run_synthgen, snapshot) -> None:
    inputs, work, out = tmp_path / "in", tmp_path / "work", tmp_path / "out"
    inputs.mkdir()
    work.mkdir()
    outside(inputs).mkdir()
    row.build(inputs)
    before = snapshot(tmp_path)
    args = [a.format(**{"in": inputs, "out": out}) for a in row.args]
    code, stdout, stderr = run_synthgen(args, work, timeout=120)
    assert code == row.code, (code, stdout, stderr)
    for word in row.words:
        assert word in stderr or (code == 0 and word in stdout), (word, stderr)
    assert "Traceback" not in stderr and SECRET not in stdout + stderr, stderr
    if code == 1:  # one line per problem, each naming the file (or the flag)
        lines = [line for line in stderr.splitlines() if line.startswith(("error: ", "unreadable: "))]
        assert lines and stderr.splitlines()[-1] == lines[-1], stderr
        assert all(str(inputs) in line or line.startswith("error: --") for line in lines), "a message that names no file"
    after = snapshot(tmp_path)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert not {p for p in changed if p.startswith(("in/", "outside/"))}, "inputs changed"
    written = {p for p in changed if not p.startswith("out")}
    assert not written, f"written outside the output: {sorted(written)}"
    if code == 1:
        assert not changed, f"a failed command left files: {sorted(changed)}"


def test_every_class_has_cases() -> None:
    counts = {klass: sum(c.klass == klass for c in CASES) for klass in (1, 2, 3, 4, 7, 8)}
    assert min(counts.values()) >= 6, counts
    assert len({c.name for c in CASES}) == len(CASES)
