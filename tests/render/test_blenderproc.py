"""BlenderProc 2.8 in-process: the adapter, the backend (same labels as ours), clean exit, and reading
datasets BlenderProc's own writers made.

BlenderProc only ever runs in child processes here: once it has rendered, an interpreter can hang
at exit (see backends/blenderproc.py), and the test process must not.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from paths import ASSETS, QUICKSTART

from synthgen.errors import InputError
from synthgen.formats.blenderproc import read_blenderproc_coco, read_blenderproc_hdf5
from synthgen.formats.check import check_dataset
from synthgen.formats.sources import open_dataset
from synthgen.mix.assemble import convert
from synthgen.recipe import ImageSpec, RenderSpec, load_recipe
from synthgen.recipe.schema import LabelSpec
from synthgen.render.annotate import annotate
from synthgen.render.run import render_dataset
from synthgen.render.sampling import sample

pytestmark = [
    pytest.mark.slow,
    # importing blenderproc outside the adapter raises, so look for it without importing
    pytest.mark.skipif(importlib.util.find_spec("blenderproc") is None, reason="needs the 'blenderproc' extra"),
]


def _tiny(backend: str, count: int = 2):
    recipe = load_recipe(QUICKSTART)
    small = recipe.model_copy(
        update={
            "backend": backend, "count": count, "image": ImageSpec(width=64, height=48), "render": RenderSpec(samples=2),
            "labels": LabelSpec(min_area=4, min_visibility=0.05, amodal=True),
        }
    )
    small._source = recipe.source
    return small


def _child(script: str, timeout: int = 240) -> str:
    """Run `script` in a fresh Python that ends with os._exit (no teardown); return its stdout."""
    code = f"import os, sys\ntry:\n{_indent(script)}\nfinally:\n    sys.stdout.flush(); sys.stderr.flush(); os._exit(0)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert "CHILD-OK" in done.stdout, done.stderr[-3000:]
    return done.stdout


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines())


def test_adapter_loads_the_api_it_was_written_for():
    _child(
        """
from synthgen.render.backends.blenderproc import SUPPORTED, load_blenderproc
bproc = load_blenderproc()
from blenderproc.version import __version__
assert __version__ == SUPPORTED["blenderproc"], __version__
for module, name in [("object", "create_primitive"), ("object", "simulate_physics_and_fix_final_poses"),
                     ("renderer", "enable_segmentation_output"), ("world", "set_world_background_hdr_img"),
                     ("writer", "write_coco_annotations"), ("writer", "write_hdf5")]:
    assert callable(getattr(getattr(bproc, module), name)), (module, name)
print("CHILD-OK")
"""
    )


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    out = tmp_path_factory.mktemp("bproc")
    for backend in ("blenderproc", "blender"):  # blenderproc renders in a worker process
        result = render_dataset(_tiny(backend), out / backend)
        assert result.complete, result.failures
    return out


def test_blenderproc_backend_makes_a_valid_quickstart_dataset_with_our_labels(datasets):
    report = check_dataset(datasets / "blenderproc")
    assert report.ok, report.problems
    assert report.annotations > 0
    ours, theirs = (json.loads((datasets / b / "annotations.json").read_text())["annotations"] for b in ("blender", "blenderproc"))
    assert [a["segmentation"] for a in theirs] == [a["segmentation"] for a in ours], "same Scene, same index pass"
    fields = ("amodal_segmentation", "amodal_bbox", "visibility", "truncated")
    assert [[a[f] for f in fields] for a in theirs] == [[a[f] for f in fields] for a in ours], "same lone renders"
    assert {a["visibility"] < 1 for a in ours} == {True, False} and all(a["visibility"] >= 0.05 for a in ours)
    assert "blenderproc" not in sys.modules


def test_render_command_with_blenderproc_ends_cleanly(tmp_path):
    recipe = tmp_path / "bp.yaml"
    text = QUICKSTART.read_text().replace("backend: blender", "backend: blenderproc").replace("../assets", str(ASSETS))
    recipe.write_text(text.replace("{width: 320, height: 240}", "{width: 32, height: 24}").replace("samples: 16", "samples: 1"))
    done = subprocess.run(
        [sys.executable, "-m", "synthgen.cli", "render", str(recipe), "-o", str(tmp_path / "out"), "--count", "2", "-q"],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert check_dataset(tmp_path / "out").ok


def test_reading_what_blenderprocs_own_writers_wrote(tmp_path):
    names = json.loads(
        _child(
            f"""
import dataclasses, json, numpy as np
from synthgen.render.backends.blenderproc import BlenderProcBackend
from synthgen.recipe import load_recipe
from synthgen.render.sampling import sample
backend = BlenderProcBackend(threads=2)
for index in range(2):
    scene = dataclasses.replace(sample(load_recipe({str(QUICKSTART)!r}), index), width=64, height=48, samples=2)
    render = backend.render(scene)
    np.save({str(tmp_path)!r} + f"/ids{{index}}.npy", render.instance_map)
    data = backend.last_data
    backend.bproc.writer.write_hdf5({str(tmp_path / "hdf5")!r}, data, append_to_existing_output=True)
    backend.bproc.writer.write_coco_annotations({str(tmp_path / "coco")!r}, instance_segmaps=data["instance_segmaps"],
        instance_attribute_maps=data["instance_attribute_maps"], colors=data["colors"], append_to_existing_output=True)
print("CHILD-OK")
print(json.dumps({{i: n for n, i in backend.categories.items()}}))
"""
        ).splitlines()[-1]
    )
    names = {int(i): n for i, n in names.items()}
    recipe = load_recipe(QUICKSTART)
    expected = [
        annotate(np.load(tmp_path / f"ids{i}.npy"), dataclasses.replace(sample(recipe, i), width=64, height=48), 1) for i in range(2)
    ]
    assert sum(map(len, expected)) > 2
    from_coco = read_blenderproc_coco(tmp_path / "coco", class_names=names)
    from_hdf5 = read_blenderproc_hdf5(tmp_path / "hdf5", tmp_path / "imported", class_names=names)
    for dataset in (from_coco, from_hdf5):
        assert sorted(c.name for c in dataset.categories) == ["cone", "mug"]
        for got, want in zip(dataset.samples, expected, strict=True):
            assert sorted((i.category, i.box, i.area) for i in got.instances) == sorted((i.category, i.box, i.area) for i in want)
            masks = {i.box: i.decode_mask() for i in want}
            assert all(np.array_equal(i.decode_mask(), masks[i.box]) for i in got.instances)
    assert (tmp_path / "imported" / from_hdf5.samples[0].file_name).exists()
    assert {s.provenance.backend for s in from_coco.samples + from_hdf5.samples} == {"blenderproc"}
    # HDF5 frames hold their images: `convert` decodes them into a dataset folder; other readers say so
    converted = convert(str(tmp_path / "hdf5"), "auto", tmp_path / "converted")
    assert [[(i.box, i.area) for i in s.instances] for s in converted.samples] == [
        [(i.box, i.area) for i in s.instances] for s in from_hdf5.samples
    ]
    assert check_dataset(tmp_path / "converted").ok and not (tmp_path / "converted" / ".frames").exists()
    with pytest.raises(InputError, match="synthgen convert .* --from blenderproc"):
        open_dataset(str(tmp_path / "hdf5"))
