"""A static HTML report (plus its PNGs) for one or more datasets, and a contact sheet of samples.

Per dataset (a mix output counts as one dataset per split): instances per class by source (real /
reviewed / synthetic), box size and aspect histograms, a box-centre heatmap, visibility where the
labels have it, images per split, and a contact sheet with masks and boxes drawn. Given a review
rounds log (`formats.rounds`), the review rounds: their edits and AP, as a table and a chart.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthgen.fileio import atomic_write_bytes, atomic_write_text, open_image
from synthgen.formats.rounds import MANUAL_EDITS, manual_edits, read_rounds
from synthgen.formats.sources import Opened, open_dataset
from synthgen.labels import Instance, Sample
from synthgen.layout import ANNOTATIONS
from synthgen.mix.assemble import kind_of

KINDS = ("real", "reviewed", "synthetic")
KIND_COLOURS = {"real": "#4c72b0", "reviewed": "#55a868", "synthetic": "#dd8452"}
SPLITS = ("train", "val", "test")
TILE = (256, 192)


@dataclass
class Part:
    """One dataset (or one split of a mix) in the report."""

    label: str
    opened: Opened


def open_parts(spec: str) -> list[Part]:
    """A mix output folder yields its splits; any other input yields itself."""
    path = Path(spec)
    splits = [name for name in SPLITS if (path / name / ANNOTATIONS).is_file()]
    if splits and not (path / ANNOTATIONS).is_file():
        return [Part(f"{spec}/{name}", open_dataset(str(path / name))) for name in splits]
    return [Part(spec, open_dataset(spec))]


def sample_kind(sample: Sample) -> str:
    """real / reviewed / synthetic, as a mix recorded it or as the provenance says."""
    return sample.provenance.extra.get("kind") or kind_of(sample.provenance)


def class_counts_by_kind(opened: Opened) -> dict[str, Counter]:
    counts = {c.name: Counter() for c in opened.dataset.categories}
    for sample in opened.dataset.samples:
        for instance in sample.instances:
            counts.setdefault(instance.category, Counter())[sample_kind(sample)] += 1
    return counts


def box_arrays(opened: Opened) -> dict[str, np.ndarray]:
    """Per instance: sqrt(area) in pixels, aspect w/h, centre in [0, 1]^2, visibility (NaN if unknown)."""
    rows = [
        (i.box[2], i.box[3], (i.box[0] + i.box[2] / 2) / s.width, (i.box[1] + i.box[3] / 2) / s.height,
         np.nan if i.visibility is None else i.visibility)
        for s in opened.dataset.samples for i in s.instances
    ]
    w, h, cx, cy, visibility = np.array(rows, dtype=float).reshape(-1, 5).T
    return {"size": np.sqrt(w * h), "aspect": w / np.maximum(h, 1e-9), "cx": cx, "cy": cy, "visibility": visibility}


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported when a plot is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()


def plot_part(part: Part) -> dict[str, bytes]:
    """The plots of one part, as PNG bytes by name."""
    plt = pyplot()
    plots = {}
    counts = class_counts_by_kind(part.opened)
    names = list(counts)
    figure, axis = plt.subplots(figsize=(max(4, 0.6 * len(names) + 2), 3))
    bottom = np.zeros(len(names))
    for kind in KINDS:
        values = np.array([counts[n][kind] for n in names], dtype=float)
        axis.bar(names, values, bottom=bottom, label=kind, color=KIND_COLOURS[kind])
        bottom += values
    axis.set_ylabel("instances")
    axis.legend()
    axis.tick_params(axis="x", rotation=45)
    plots["classes"] = png_bytes(figure)
    plt.close(figure)
    boxes = box_arrays(part.opened)
    if len(boxes["size"]):
        figure, axes = plt.subplots(1, 3, figsize=(11, 3))
        axes[0].hist(boxes["size"], bins=30, color="#4c72b0")
        axes[0].set_xlabel("box size sqrt(w*h), px")
        axes[1].hist(np.log2(boxes["aspect"]), bins=30, color="#4c72b0")
        axes[1].set_xlabel("log2 aspect w/h")
        axes[2].hist2d(boxes["cx"], boxes["cy"], bins=20, range=[[0, 1], [0, 1]], cmap="viridis")
        axes[2].invert_yaxis()
        axes[2].set_xlabel("box centre x / width (heatmap; y down)")
        plots["boxes"] = png_bytes(figure)
        plt.close(figure)
    visible = boxes["visibility"][~np.isnan(boxes["visibility"])]
    if len(visible):
        figure, axis = plt.subplots(figsize=(4, 3))
        axis.hist(visible, bins=20, range=(0, 1), color="#55a868")
        axis.set_xlabel("visibility")
        plots["visibility"] = png_bytes(figure)
        plt.close(figure)
    return plots


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable colour per class name."""
    digest = sum((i + 1) * ord(ch) for i, ch in enumerate(name))
    rng = np.random.default_rng(digest)
    return tuple(int(v) for v in rng.integers(60, 255, size=3))


def draw_sample(opened: Opened, index: int) -> Image.Image:
    """One image with its masks (tinted) and boxes (outlined, labelled), fitted into a tile."""
    sample = opened.dataset.samples[index]
    return draw_instances(opened.image_path(sample.file_name), sample.instances)


def draw_instances(image_path: Path, instances: list[Instance]) -> Image.Image:
    """The image at `image_path` with these instances drawn (masks tinted, boxes outlined and labelled), fitted into a tile."""
    with open_image(image_path) as image:
        canvas = np.asarray(image.convert("RGB"), dtype=np.float32)
    for instance in instances:
        if instance.mask is not None:
            mask = instance.decode_mask()
            canvas[mask] = 0.55 * canvas[mask] + 0.45 * np.array(class_colour(instance.category))
    drawn = Image.fromarray(canvas.astype(np.uint8))
    pen = ImageDraw.Draw(drawn)
    for instance in instances:
        x, y, w, h = instance.box
        pen.rectangle([x, y, x + w, y + h], outline=class_colour(instance.category), width=2)
        pen.text((x + 2, y + 1), instance.category, fill=(255, 255, 255))
    drawn.thumbnail(TILE)
    return drawn


def contact_sheet(opened: Opened, count: int = 12, seed: int = 0, columns: int = 4) -> Image.Image:
    """`count` images sampled by `seed`, drawn, on a grid sized to them (no empty cells past the last row)."""
    total = len(opened.dataset.samples)
    chosen = sorted(np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)) if total else []
    columns = max(1, min(columns, len(chosen)))
    rows = max(1, -(-len(chosen) // columns))
    sheet = Image.new("RGB", (columns * TILE[0], rows * TILE[1]), (32, 32, 32))
    for position, index in enumerate(chosen):
        tile = draw_sample(opened, int(index))
        sheet.paste(tile, ((position % columns) * TILE[0], (position // columns) * TILE[1]))
    return sheet


def sheet_png(opened: Opened, count: int = 12, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    contact_sheet(opened, count, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def write_preview(spec: str, out: Path, count: int = 12, seed: int = 0) -> None:
    """Write only the contact sheet of `spec`."""
    atomic_write_bytes(out, sheet_png(open_dataset(spec), count, seed))


def write_report(
    specs: list[str], out: Path, seed: int = 0, sheet_count: int = 12, rounds: Path | None = None
) -> list[Path]:
    """Write `out` (HTML) and its PNGs in `<out stem>_files/`; returns the PNG paths. With `rounds`
    (a review rounds log) the page starts with the review rounds: a table and a chart of edits."""
    parts = [part for spec in specs for part in open_parts(spec)]
    assets = out.parent / f"{out.stem}_files"
    written, sections = [], []
    if rounds is not None:
        entries = read_rounds(rounds)
        chart = assets / "rounds.png"
        atomic_write_bytes(chart, plot_rounds(entries))
        written.append(chart)
        sections.append(f"<section><h2>Review rounds</h2>{_rounds_table(entries)}"
                        f'<img src="{html.escape(f"{assets.name}/{chart.name}")}" alt="rounds"></section>')  # fmt: skip
    for number, part in enumerate(parts):
        images = {**plot_part(part), "sheet": sheet_png(part.opened, sheet_count, seed)}
        tags = []
        for name, data in images.items():
            path = assets / f"{number:02d}_{name}.png"
            atomic_write_bytes(path, data)
            written.append(path)
            tags.append(f'<img src="{html.escape(f"{assets.name}/{path.name}")}" alt="{name}">')
        sections.append(f"<section><h2>{html.escape(part.label)}</h2>{_table(part)}{''.join(tags)}</section>")
    atomic_write_text(out, _PAGE.format(title=html.escape(", ".join(specs)), style=STYLE, splits=_split_table(parts), body="".join(sections)))
    return written


def plot_rounds(entries: list[dict]) -> bytes:
    """Manual edits per round (stacked by kind) beside the AP before and after each round's retraining."""
    plt = pyplot()
    numbers = [entry["round"] for entry in entries]
    figure, (edits, aps) = plt.subplots(1, 2, figsize=(9, 3))
    bottom = np.zeros(len(entries))
    for key, colour in zip(MANUAL_EDITS, ("#55a868", "#c44e52", "#4c72b0", "#dd8452")):
        values = np.array([entry["edits"][key] for entry in entries], dtype=float)
        edits.bar(numbers, values, bottom=bottom, label=key, color=colour)
        bottom += values
    edits.set_xlabel("round")
    edits.set_ylabel("boxes changed by people")
    edits.set_xticks(numbers)
    edits.legend(fontsize="small")
    for stage, marker in (("before", "o--"), ("after", "s-")):
        points = [(entry["round"], entry[f"ap_{stage}"]["ap"]) for entry in entries if entry[f"ap_{stage}"]]
        if points:
            aps.plot(*zip(*points), marker, label=f"AP {stage} retraining")
    aps.set_xlabel("round")
    aps.set_ylabel("AP on the validation set")
    aps.set_xticks(numbers)
    aps.set_ylim(0, 1)
    if aps.lines:
        aps.legend(fontsize="small")
    data = png_bytes(figure)
    plt.close(figure)
    return data


def _rounds_table(entries: list[dict]) -> str:
    """One row per round: images sent and reviewed, each kind of edit, their sum (and per image reviewed), the APs."""
    head = "<tr><th>round</th><th>images sent</th><th>reviewed</th>" + "".join(f"<th>{k}</th>" for k in MANUAL_EDITS)
    head += "<th>manual edits</th><th>per image</th><th>AP before</th><th>AP after</th><th>AP50 before</th><th>AP50 after</th></tr>"
    rows = []
    for entry in entries:
        cells = [entry["round"], entry["images_sent"], entry["images_reviewed"], *(entry["edits"][k] for k in MANUAL_EDITS)]
        reviewed = entry["images_reviewed"]
        cells += [manual_edits(entry), f"{manual_edits(entry) / reviewed:.1f}" if reviewed else "&ndash;"]
        cells += [_ap(entry[f"ap_{stage}"], key) for key in ("ap", "ap50") for stage in ("before", "after")]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f'<table class="rounds">{head}{"".join(rows)}</table>'


def _ap(ap: dict | None, key: str) -> str:
    return "&ndash;" if ap is None else f"{ap[key]:.3f}"


def _table(part: Part) -> str:
    counts = class_counts_by_kind(part.opened)
    head = "<tr><th>class</th>" + "".join(f"<th>{k}</th>" for k in KINDS) + "<th>total</th></tr>"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{c[k]}</td>" for k in KINDS) + f"<td>{sum(c.values())}</td></tr>"
        for name, c in counts.items()
    )
    return f"<table>{head}{rows}</table>"


def _split_table(parts: list[Part]) -> str:
    rows = []
    for part in parts:
        kinds = Counter(sample_kind(s) for s in part.opened.dataset.samples)
        cells = "".join(f"<td>{kinds[k]}</td>" for k in KINDS)
        rows.append(f"<tr><td>{html.escape(part.label)}</td><td>{len(part.opened.dataset.samples)}</td>{cells}</tr>")
    head = "<tr><th>dataset / split</th><th>images</th>" + "".join(f"<th>{k}</th>" for k in KINDS) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


STYLE = """<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right} img{display:block;margin:1em 0;max-width:100%}</style>"""
_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>synthgen report: {title}</title>
{style}
</head><body><h1>synthgen report</h1><h2>Images per split</h2>{splits}{body}</body></html>
"""
