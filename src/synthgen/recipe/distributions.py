"""Value distributions a recipe may give for a number: the parsing lives here, the drawing too.

Accepted forms (YAML):
  3                      a constant
  [1, 5]                 uniform between min and max (integers: inclusive)
  {choice: [1, 2, 8]}    one of the listed values
  {normal: [mean, std]}  normal (clipped at `clip: [lo, hi]` when given)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, PlainSerializer


@dataclass(frozen=True)
class Distribution:
    """A parsed number distribution; `integer` makes draws whole numbers."""

    kind: str  # constant | uniform | choice | normal
    values: tuple[float, ...]
    clip: tuple[float, float] | None = None
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.kind == "constant":
            value = self.values[0]
        elif self.kind == "uniform":
            low, high = self.values
            value = rng.integers(int(low), int(high), endpoint=True) if self.integer else rng.uniform(low, high)
        elif self.kind == "choice":
            value = self.values[int(rng.integers(len(self.values)))]
        else:
            value = rng.normal(*self.values)
            if self.clip:
                value = min(max(value, self.clip[0]), self.clip[1])
        return int(round(value)) if self.integer else float(value)

    @property
    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value a draw can give (normal without clip: mean +- 4 std)."""
        if self.kind == "normal":
            mean, std = self.values
            return self.clip or (mean - 4 * std, mean + 4 * std)
        return (min(self.values), max(self.values))

    def to_yaml(self) -> Any:
        if self.kind == "constant":
            return _number(self.values[0], self.integer)
        if self.kind == "uniform":
            return [_number(v, self.integer) for v in self.values]
        if self.kind == "choice":
            return {"choice": [_number(v, self.integer) for v in self.values]}
        data: dict[str, Any] = {"normal": list(self.values)}
        if self.clip:
            data["clip"] = list(self.clip)
        return data


def within(value: Distribution, low: float, high: float, name: str = "", unit: str = "", low_open: bool = False) -> Distribution:
    """`value` when everything it can draw lies in [low, high] ((low, high] with `low_open`), else a
    ValueError naming the allowed and the given range (pydantic reports it with the field path)."""
    lo, hi = value.bounds
    if (lo <= low if low_open else lo < low) or hi > high:
        allowed = f"{'(' if low_open else '['}{low:g}, {high:g}]{' ' + unit if unit else ''}"
        raise ValueError(f"{name + ' ' if name else ''}must stay within {allowed}, got [{lo:g}, {hi:g}]")
    return value


def _number(value: float, integer: bool) -> float | int:
    return int(value) if integer else float(value)


EXPECTED = "expected a number, [min, max], {choice: [...]} or {normal: [mean, std]}"


def parse(value: Any, integer: bool = False, minimum: float | None = None, maximum: float | None = None) -> Distribution:
    """Parse a recipe value into a Distribution; raise ValueError with a short reason."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{EXPECTED}, got {value!r}")
    if isinstance(value, (int, float)):
        dist = Distribution("constant", (_checked(value, integer),), integer=integer)
    elif isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"expected [min, max], got {len(value)} values")
        low, high = (_checked(v, integer) for v in value)
        if low > high:
            raise ValueError(f"min {_fmt(low)} > max {_fmt(high)}")
        dist = Distribution("uniform", (low, high), integer=integer)
    elif isinstance(value, dict) and set(value) == {"choice"}:
        choices = value["choice"]
        if not isinstance(choices, list) or not choices:
            raise ValueError("choice needs a non-empty list")
        dist = Distribution("choice", tuple(_checked(v, integer) for v in choices), integer=integer)
    elif isinstance(value, dict) and set(value) <= {"normal", "clip"} and "normal" in value:
        mean, std = _pair(value["normal"], "normal", "[mean, std]")
        if std < 0:
            raise ValueError(f"normal std {_fmt(std)} < 0")
        clip = _pair(value["clip"], "clip", "[lo, hi]") if "clip" in value else None
        if clip and clip[0] > clip[1]:
            raise ValueError(f"clip min {_fmt(clip[0])} > max {_fmt(clip[1])}")
        dist = Distribution("normal", (mean, std), clip=clip, integer=integer)
    else:
        raise ValueError(f"{EXPECTED}, got {value!r}")
    if minimum is not None and dist.bounds[0] < minimum:
        raise ValueError(f"must be >= {_fmt(minimum)}, got {_fmt(dist.bounds[0])}")
    if maximum is not None and dist.bounds[1] > maximum:
        raise ValueError(f"must be <= {_fmt(maximum)}, got {_fmt(dist.bounds[1])}")
    return dist


MAGNITUDE = 1e9  # no recipe number is larger: metres, degrees, watts, counts
MAX_PER_IMAGE = 1000  # instances (or lights, distractors) drawn per image


def _checked(value: Any, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r:.60}")
    if not math.isfinite(value) or abs(value) > MAGNITUDE:
        raise ValueError(f"expected a finite number within +-{MAGNITUDE:g}, got {value!r}")
    if integer and value != int(value):
        raise ValueError(f"expected a whole number, got {value!r}")
    return float(value)


def _pair(value: Any, name: str, form: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} expects {form}")
    return (_checked(value[0], False), _checked(value[1], False))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _field(integer: bool, minimum: float | None, maximum: float | None = None) -> Any:
    return Annotated[
        Distribution,
        BeforeValidator(lambda v: parse(v, integer=integer, minimum=minimum, maximum=maximum)),
        PlainSerializer(lambda d: d.to_yaml()),
    ]


Number = _field(integer=False, minimum=None)
PositiveNumber = _field(integer=False, minimum=0)
Count = _field(integer=True, minimum=0, maximum=MAX_PER_IMAGE)
