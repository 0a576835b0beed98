"""`report` and `preview`: the HTML page, its PNGs, and the contact sheet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, open_in_chromium
from mixing_helpers import REAL_COCO, render_provenance, write_dataset
from PIL import Image

from synthgen.formats.sources import open_dataset
from synthgen.labels import Provenance
from synthgen.mix.mix import MixOptions, mix
from synthgen.mix.report import TILE, box_arrays, class_counts_by_kind, contact_sheet, write_preview, write_report


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    real = write_dataset(tmp_path / "real", ["crate"], [["crate"]] * 6, Provenance(source="human"), seed=1)
    synth = write_dataset(tmp_path / "synth", ["crate", "drum"], [["crate", "drum"]] * 4, render_provenance("s"), seed=2)
    for sample_file in (synth / "annotations.json",):  # give the synthetic labels a visibility
        sample_file.write_text(sample_file.read_text().replace('"iscrowd":0', '"iscrowd":0,"visibility":0.75'))
    mix([str(real), str(synth)], tmp_path / "mixed", MixOptions(val_fraction=0.34, seed=0))
    return tmp_path / "mixed"


def test_counts_by_source(mixed):
    train = open_dataset(str(mixed / "train"))
    counts = class_counts_by_kind(train)
    assert {name: dict(c) for name, c in counts.items()} == {"crate": {"reviewed": 4, "synthetic": 4}, "drum": {"synthetic": 4}}
    boxes = box_arrays(train)
    assert len(boxes["size"]) == 12
    assert np.count_nonzero(boxes["visibility"] == 0.75) == 8 and np.isnan(boxes["visibility"]).sum() == 4
    assert ((boxes["cx"] > 0) & (boxes["cx"] < 1)).all()


def test_report_page_and_pngs(mixed, tmp_path):
    out = mixed / "report.html"
    pngs = write_report([str(mixed), str(REAL_COCO)], out, seed=0)
    page = out.read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources == [f"report_files/{p.name}" for p in pngs]
    names = [p.name for p in pngs]
    assert names == ["00_classes.png", "00_boxes.png", "00_visibility.png", "00_sheet.png",
                     "01_classes.png", "01_boxes.png", "01_sheet.png",
                     "02_classes.png", "02_boxes.png", "02_sheet.png"]
    for png in pngs:
        with Image.open(png) as image:
            assert image.format == "PNG" and image.width > 100
    split_rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", page)
    assert split_rows[:3] == [(f"{mixed}/train", "8", "0", "4", "4"), (f"{mixed}/val", "2", "0", "2", "0"),
                              (str(REAL_COCO), "4", "4", "0", "0")]


def test_contact_sheet_draws_masks_and_boxes(tmp_path):
    opened = open_dataset(str(REAL_COCO))
    sheet = contact_sheet(opened, count=4, seed=0, columns=2)
    assert sheet.size == (2 * TILE[0], 2 * TILE[1])
    for position, sample in enumerate(opened.dataset.samples):  # all 4 images, in order
        with Image.open(opened.image_path(sample.file_name)) as image:
            plain = image.convert("RGB")
        plain.thumbnail(TILE)
        x, y = (position % 2) * TILE[0], (position // 2) * TILE[1]
        tile = np.asarray(sheet.crop((x, y, x + plain.width, y + plain.height)), dtype=float)
        difference = np.abs(tile - np.asarray(plain, dtype=float)).mean(axis=2)
        assert 0.02 < (difference > 30).mean() < 0.6  # the same photo, with masks and boxes drawn on it
    write_preview(str(REAL_COCO), tmp_path / "sheet.png", count=3, seed=1)
    with Image.open(tmp_path / "sheet.png") as image:
        assert image.size == (3 * TILE[0], TILE[1])


def test_a_short_sheet_has_no_empty_tiles():
    opened = open_dataset(str(REAL_COCO))
    background = np.array([32, 32, 32])
    for count, size in [(1, (TILE[0], TILE[1])), (2, (2 * TILE[0], TILE[1])), (4, (4 * TILE[0], TILE[1])), (9, (4 * TILE[0], TILE[1]))]:
        sheet = contact_sheet(opened, count=count, seed=0)
        assert sheet.size == size
        pixels = np.asarray(sheet)
        for x in range(0, size[0], TILE[0]):
            assert (pixels[:, x : x + TILE[0]] != background).any(axis=2).mean() > 0.5  # each cell holds an image


@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(mixed):
    out = mixed / "report.html"
    write_report([str(mixed)], out)
    assert open_in_chromium(out)[:2] == (7, 7)
