"""`OUT/report.html` of an experiment: per-class AP of each arm with its interval, the deltas against
`real` with their verdicts (table and bar chart), the training curves, and a contact sheet of the
test images where the arms disagree most (ground truth, then each arm's seed-0 detections).
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthgen.fileio import atomic_write_bytes, atomic_write_text
from synthgen.labels import Instance
from synthgen.mix.assemble import Item
from synthgen.mix.report import STYLE, TILE, draw_instances, png_bytes, pyplot

REPORT = "report.html"
FILES = "report_files"
SHOWN_SCORE = 0.5
DISAGREEING = 6


def _cell(value: dict[str, Any]) -> str:
    if value["mean"] is None:
        return "<td>-</td>"
    ci = value["ci"]
    spread = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci is not None else ""
    return f"<td>{value['mean']:.3f}{spread}</td>"


def ap_table(results: dict[str, Any]) -> str:
    """Rows: classes then `all`; columns: AP [95 % interval] of each arm."""
    arms = results["arms"]
    head = "<tr><th>class</th>" + "".join(f"<th>{html.escape(arm)} AP</th>" for arm in arms) + "</tr>"
    rows = [
        f"<tr><td>{html.escape(name)}</td>" + "".join(_cell(arms[arm]["classes"][name]["ap"]) for arm in arms) + "</tr>"
        for name in results["setup"]["measured_classes"]
    ]
    rows.append("<tr><td>all</td>" + "".join(_cell(arms[arm]["all"]["ap"]) for arm in arms) + "</tr>")
    return f'<table id="ap">{head}{"".join(rows)}</table>'


def delta_table(results: dict[str, Any]) -> str:
    """Rows: (arm, class); the AP delta against real, its interval and the verdict."""
    head = "<tr><th>arm</th><th>class</th><th>AP delta vs real</th><th>verdict</th></tr>"
    rows = [
        f"<tr><td>{html.escape(arm)}</td><td>{html.escape(name)}</td>{_cell(delta['ap'])}<td>{delta['verdict']}</td></tr>"
        for arm, per_class in results["deltas"].items()
        for name, delta in per_class.items()
    ]
    return f'<table id="deltas">{head}{"".join(rows)}</table>'


def _bars(plt, groups: list[str], series: dict[str, list[dict[str, Any]]], ylabel: str) -> bytes:
    """Grouped bars with interval whiskers: one group per class, one bar per series."""
    figure, axis = plt.subplots(figsize=(max(4, 1.2 * len(groups) * max(1, len(series)) / 2 + 2), 3))
    width = 0.8 / max(1, len(series))
    for number, (label, values) in enumerate(series.items()):
        means = np.array([v["mean"] if v["mean"] is not None else np.nan for v in values], dtype=float)
        spans = np.array([[m - v["ci"][0], v["ci"][1] - m] if v["ci"] else [0, 0] for m, v in zip(means, values)], dtype=float).T
        axis.bar(np.arange(len(groups)) + number * width, means, width, yerr=spans.reshape(2, -1), capsize=3, label=label)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(np.arange(len(groups)) + width * (len(series) - 1) / 2, groups)
    axis.set_ylabel(ylabel)
    axis.legend()
    data = png_bytes(figure)
    plt.close(figure)
    return data


def _curves(plt, records: dict[str, list[dict[str, Any]]]) -> bytes:
    """Training loss per step: each seed thin, the mean over seeds bold."""
    figure, axis = plt.subplots(figsize=(6, 3))
    for number, (arm, runs) in enumerate(records.items()):
        colour = f"C{number}"
        for run in runs:
            axis.plot(run["losses"], color=colour, alpha=0.3, linewidth=0.8)
        axis.plot(np.mean([run["losses"] for run in runs], axis=0), color=colour, label=arm)
    axis.set_xlabel("optimiser step")
    axis.set_ylabel("training loss")
    axis.legend()
    data = png_bytes(figure)
    plt.close(figure)
    return data


def disagreement_order(per_image: dict[str, np.ndarray], count: int = DISAGREEING) -> list[int]:
    """The test images on which the arms' scores spread most (ties: file order)."""
    scores = np.array(list(per_image.values()))
    spread = scores.max(axis=0) - scores.min(axis=0)
    return [int(i) for i in np.argsort(-spread, kind="stable")[:count]]


def _sheet(records: dict[str, list[dict[str, Any]]], test: list[Item], chosen: list[int]) -> bytes:
    """One row per chosen image: its ground truth, then each arm's seed-0 detections scoring >= 0.5."""
    columns = 1 + len(records)
    sheet = Image.new("RGB", (columns * TILE[0], max(1, len(chosen)) * TILE[1]), (32, 32, 32))
    for row, index in enumerate(chosen):
        item = test[index]
        shown = [item.sample.instances]
        for runs in records.values():
            found = [p for p in runs[0]["predictions"] if p["image"] == index and p["score"] >= SHOWN_SCORE]
            shown.append([Instance(p["class"], tuple(p["bbox"]), 0.0, score=p["score"]) for p in found])
        for column, instances in enumerate(shown):
            sheet.paste(draw_instances(item.image_path, instances), (column * TILE[0], row * TILE[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def write_experiment_report(
    out: Path, results: dict[str, Any], records: dict[str, list[dict[str, Any]]], test: list[Item], per_image: dict[str, np.ndarray]
) -> list[Path]:
    """Write `out/report.html` and its PNGs in `out/report_files/`; returns the PNG paths."""
    plt = pyplot()
    classes = results["setup"]["measured_classes"]
    arms = results["arms"]
    chosen = disagreement_order(per_image)
    images = {
        "ap": _bars(plt, classes, {arm: [arms[arm]["classes"][c]["ap"] for c in classes] for arm in arms}, "AP on the real test set"),
        "deltas": _bars(plt, classes, {arm: [d[c]["ap"] for c in classes] for arm, d in results["deltas"].items()}, "AP delta vs real"),
        "curves": _curves(plt, records),
        "disagreement": _sheet(records, test, chosen),
    }
    written, tags = [], {}
    for name, data in images.items():
        path = out / FILES / f"{name}.png"
        atomic_write_bytes(path, data)
        written.append(path)
        tags[name] = f'<img src="{FILES}/{name}.png" alt="{name}">'
    files = ", ".join(html.escape(test[i].sample.file_name) for i in chosen)
    body = (
        f"<h2>AP per class (95 % interval)</h2>{ap_table(results)}{tags['ap']}"
        f"<h2>Deltas against real</h2>{delta_table(results)}{tags['deltas']}"
        f"<h2>Training curves</h2>{tags['curves']}"
        f"<h2>Where the arms disagree most</h2><p>Columns: ground truth, then {html.escape(', '.join(records))} "
        f"(seed 0, score &ge; {SHOWN_SCORE}). Rows: {files}.</p>{tags['disagreement']}"
    )
    atomic_write_text(out / REPORT, _PAGE.format(title=html.escape(str(out)), style=STYLE, body=body))
    return written


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>synthgen experiment: {title}</title>
{style}
</head><body><h1>synthgen experiment</h1>{body}</body></html>
"""
