"""The review rounds log: one numbered record per `review import --rounds FILE`, so a team sees its
manual work fall round by round.

    {"rounds": [{"round": 1, "dataset": ..., "export": ..., "out": ..., "classes": [...],
                 "images_sent": 3, "images_reviewed": 2, "images_skipped": 1,
                 "edits": {"kept": 9, "added": 1, "removed": 5, "moved": 1, "reclassified": 0},
                 "ap_before": null, "ap_after": {"ap": ..., "ap50": ..., "ap75": ..., "val": ...,
                                                 "val_sha256": ..., "predictions": ...}}]}

`ap_before` is the AP, on a fixed real validation set, of the detector whose pre-labels the people
corrected; `ap_after` that of the detector retrained on the corrections (`eval --rounds FILE --stage`).
Every AP of one log is measured on the same validation file (its sha256 is kept). The log is read
through the field checks like any foreign file and rewritten whole, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.errors import FormatError, InputError
from synthgen.fileio import atomic_write_json, read_json
from synthgen.formats import fields

EDIT_KEYS = ("kept", "added", "removed", "moved", "reclassified")
MANUAL_EDITS = ("added", "removed", "moved", "reclassified")  # what a person had to do
STAGES = ("before", "after")
AP_KEYS = ("ap", "ap50", "ap75")
COUNT_KEYS = ("images_sent", "images_reviewed", "images_skipped")
PATH_KEYS = ("dataset", "export", "out")


class RoundsError(InputError):
    """A rounds log, or what is recorded in it, that does not fit; the message names file and field."""


def read_rounds(path: Path, missing_ok: bool = False) -> list[dict[str, Any]]:
    """The checked rounds of the log at `path` (none when it does not exist and `missing_ok`)."""
    if missing_ok and not Path(path).exists():
        return []
    try:
        data = fields.mapping(read_json(Path(path)), str(path))
        entries = fields.array(data.get("rounds"), f"{path}: rounds")
        return [_checked(entry, f"{path}: rounds[{position}]", position + 1) for position, entry in enumerate(entries)]
    except FormatError as error:
        raise RoundsError(str(error)) from None


def _checked(entry: Any, where: str, number: int) -> dict[str, Any]:
    entry = fields.mapping(entry, where)
    if fields.whole(entry.get("round"), f"{where}.round", 1) != number:
        raise fields.bad(f"{where}.round", f"round {number} (rounds are numbered 1, 2, ... in order)", entry.get("round"))
    for key in PATH_KEYS:
        fields.text(entry.get(key), f"{where}.{key}")
    classes = fields.array(entry.get("classes"), f"{where}.classes")
    for position, name in enumerate(classes):
        fields.text(name, f"{where}.classes[{position}]")
    for key in COUNT_KEYS:
        fields.whole(entry.get(key), f"{where}.{key}")
    edits = fields.mapping(entry.get("edits"), f"{where}.edits")
    for key in EDIT_KEYS:
        fields.whole(edits.get(key), f"{where}.edits.{key}")
    for stage in STAGES:
        ap = entry.setdefault(f"ap_{stage}", None)  # not measured yet
        if ap is not None:
            _checked_ap(ap, f"{where}.ap_{stage}")
    return entry


def _checked_ap(ap: Any, where: str) -> None:
    ap = fields.mapping(ap, where)
    for key in AP_KEYS:
        fields.number(ap.get(key), f"{where}.{key}", 0.0, 1.0)
    for key in ("val", "val_sha256", "predictions"):
        fields.text(ap.get(key), f"{where}.{key}")


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise RoundsError(f"--stage: expected before or after (got {stage!r})")


def manual_edits(entry: dict[str, Any]) -> int:
    """Boxes a person added, removed, moved or reclassified in a round."""
    return sum(entry["edits"][key] for key in MANUAL_EDITS)


def append_round(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Add `record` (the keys above but `round` and the APs) as the next round; returns it numbered."""
    rounds = read_rounds(path, missing_ok=True)
    entry = {"round": len(rounds) + 1, **record, "ap_before": None, "ap_after": None}
    atomic_write_json(Path(path), {"rounds": [*rounds, entry]})
    return entry


def round_for_ap(
    path: Path, stage: str, val: Path, val_sha256: str, val_classes: list[str], number: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the log's rounds, round `number`, default the last) where an AP `stage` measured on the
    validation file `val` (its sha256, its classes) may go: the log's one validation set, no class
    the round's dataset lacks."""
    check_stage(stage)
    rounds = read_rounds(path)
    if not rounds:
        raise RoundsError(f"{path}: rounds: no round recorded yet (run `review import ... --rounds {path}` first)")
    number = len(rounds) if number is None else number
    if not 1 <= number <= len(rounds):
        raise RoundsError(f"--round: expected a round of {path}, 1 to {len(rounds)} (got {number})")
    entry = rounds[number - 1]
    unknown = [name for name in val_classes if name not in entry["classes"]]
    if unknown:
        raise RoundsError(
            f"{val}: categories[].name: class {unknown[0]!r} is not among round {number}'s classes ({', '.join(entry['classes'])})"
        )
    for other in rounds:
        for key in (f"ap_{s}" for s in STAGES):
            if other[key] is not None and other[key]["val_sha256"] != val_sha256:
                raise RoundsError(
                    f"{path}: rounds[{other['round'] - 1}].{key}.val_sha256: expected the validation set every round is"
                    f" measured on ({other[key]['val']}) (got {val}, another file); start another rounds log for it"
                )
    return rounds, entry


def record_ap(
    path: Path, stage: str, ap: dict[str, float], val: Path, val_sha256: str, val_classes: list[str],
    predictions: Path, number: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Set round `number`'s (default: the last round's) AP `stage` (before / after) to `ap` (see
    `round_for_ap`); returns the round."""
    rounds, entry = round_for_ap(path, stage, val, val_sha256, val_classes, number)
    entry[f"ap_{stage}"] = {**{k: round(ap[k], 6) for k in AP_KEYS}, "val": str(val), "val_sha256": val_sha256,
                            "predictions": str(predictions)}  # fmt: skip
    atomic_write_json(Path(path), {"rounds": rounds})
    return entry
