"""`plan --from-experiment`: the next recipe from what an experiment measured.

For each class, `results.json`'s deltas against `real` say whether synthetic data helped (its
interval above 0), hurt (below 0) or neither. Classes it helped and that are short of real
instances get their deficit planned (as `plan` does), and the source that helped most is named;
classes it hurt get none, nor do classes without evidence either way. Every class gets one line
saying why, in the recipe's header and on the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgen.errors import InputError
from synthgen.labels import normalise_name
from synthgen.mix.plan import (
    GenerationPlan,
    count_instances,
    plan_generation,
    recipe_means,
    write_recipe,
)

RESULTS = "results.json"
VERDICTS = ("helps", "hurts", "no evidence")


@dataclass
class Evidence:
    """What the experiment says of one class: the verdict, and the arm behind it (best, or worst if it hurt)."""

    name: str
    verdict: str
    arm: str
    mean: float
    ci: list[float] | None

    @property
    def source(self) -> str:
        """The synthetic set of the arm (`real+NAME` or `NAME`)."""
        return self.arm.removeprefix("real+")

    def describe(self) -> str:
        spread = f" [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]" if self.ci else ""
        return f"AP {self.mean:+.3f}{spread} with {self.arm}"


def _expect(condition: bool, file: Path, where: str, expected: str, got: Any) -> None:
    if not condition:
        raise InputError(f"{file}: {where}: expected {expected} (got {json.dumps(got)[:80]})")


def read_evidence(experiment: Path) -> dict[str, Evidence]:
    """Per class, the verdict that decides: the best helping arm, else the worst hurting one, else the best."""
    file = Path(experiment) / RESULTS
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{file}: cannot read an experiment's results: {error}") from None
    _expect(isinstance(data, dict) and isinstance(data.get("deltas"), dict), file, "deltas", "an object of arms", data)
    found: dict[str, list[Evidence]] = {}
    for arm, per_class in data["deltas"].items():
        _expect(isinstance(per_class, dict), file, f"deltas.{arm}", "an object of classes", per_class)
        for name, delta in per_class.items():
            where = f"deltas.{arm}.{name}"
            _expect(isinstance(delta, dict) and delta.get("verdict") in VERDICTS, file, f"{where}.verdict", " | ".join(VERDICTS), delta)
            ap = delta.get("ap")
            _expect(isinstance(ap, dict) and isinstance(ap.get("mean"), (int, float)), file, f"{where}.ap.mean", "a number", ap)
            found.setdefault(normalise_name(name), []).append(Evidence(normalise_name(name), delta["verdict"], arm, ap["mean"], ap.get("ci")))
    return {name: _decide(options) for name, options in found.items()}


def _decide(options: list[Evidence]) -> Evidence:
    helps = [e for e in options if e.verdict == "helps"]
    if helps:
        return max(helps, key=lambda e: e.mean)
    hurts = [e for e in options if e.verdict == "hurts"]
    return min(hurts, key=lambda e: e.mean) if hurts else max(options, key=lambda e: e.mean)


@dataclass
class ExperimentPlan:
    plan: GenerationPlan
    target: int
    reasons: dict[str, str]  # class -> why it gets (or does not get) images


def write_plan_from_experiment(
    dataset_spec: str, experiment: Path, base_recipe: Path, out: Path, min_per_class: int | None = None, drop_rate: float = 0.1
) -> ExperimentPlan:
    """Plan the deficit (to `min_per_class`, or the most common class's count) of the classes synthetic data helped."""
    means = recipe_means(base_recipe, drop_rate)
    counts = count_instances(dataset_spec)
    evidence = read_evidence(experiment)
    target = min_per_class if min_per_class is not None else max(counts.values(), default=0)
    helped = {name: counts.get(name, 0) for name, e in evidence.items() if e.verdict == "helps"}
    plan = plan_generation(helped, means, target, drop_rate)
    reasons = _reasons(plan, evidence, counts, target)
    header = [
        f"# Plan from `synthgen plan {dataset_spec} --from-experiment {experiment} --recipe {base_recipe}`: "
        f"classes synthetic data helped, up to {target} instances.",
        f"# Assumes {drop_rate:.0%} of rendered instances are dropped by the label filters.",
        *(f"# {line}" for line in reasons.values()),
    ]
    write_recipe(plan, "\n".join(header) + "\n", base_recipe, out)
    return ExperimentPlan(plan, target, reasons)


def _reasons(plan: GenerationPlan, evidence: dict[str, Evidence], counts: dict[str, int], target: int) -> dict[str, str]:
    planned = {c.name: c for c in plan.classes}
    missing = {c.name for c in plan.missing}
    reasons = {}
    for name in sorted({*evidence, *counts}):
        have = counts.get(name, 0)
        e = evidence.get(name)
        if e is None:
            reasons[name] = f"{name}: not measured by the experiment; none planned"
        elif e.verdict == "hurts":
            reasons[name] = f"{name}: synthetic data hurt ({e.describe()}); none planned"
        elif e.verdict == "no evidence":
            reasons[name] = f"{name}: no evidence that synthetic data helps (best {e.describe()}); none planned"
        elif name in planned:
            c = planned[name]
            reasons[name] = f"{name}: synthetic data helped ({e.describe()}); has {have}, plan {c.deficit} more like {e.source}, {c.planned_mean:g} per image"
        elif name in missing:
            reasons[name] = f"{name}: synthetic data helped ({e.describe()}); has {have}, but the base recipe has no such class"
        else:
            reasons[name] = f"{name}: synthetic data helped ({e.describe()}); has {have}, enough for {target}"
    return reasons
