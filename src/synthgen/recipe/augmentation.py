"""The recipe's `augment:` list as albumentations (2.0.x, MIT) transforms: checked at load, built per image.

Each entry is `{name: <albumentations transform>, <param>: value, ...}`; a bad name or parameter is
one problem line with its field path (`augment[i].param`).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any


def augment_problems(specs: list[dict[str, Any]]) -> list[str]:
    """One line per bad transform name or parameter, with its field path (`augment[i].param`)."""
    problems = []
    for i, spec in enumerate(specs):
        try:
            _transform(spec, f"augment[{i}]")
        except ValueError as error:
            problems.append(str(error))
    return problems


def build_pipeline(specs: list[dict[str, Any]], seed: int, **compose_options: Any):
    """The albumentations Compose for `specs`, seeded (extra Compose options, e.g. bbox_params, pass through)."""
    import albumentations as A

    return A.Compose([_transform(s, f"augment[{i}]") for i, s in enumerate(specs)], seed=seed, **compose_options)


def _transform(spec: dict[str, Any], where: str):
    """Build one transform from `{name: ..., params...}`; ValueError naming the field path when it cannot."""
    import albumentations as A

    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(f"{where}.name: expected a mapping with the transform's 'name'")
    name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    cls = getattr(A, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, A.BasicTransform)) or issubclass(cls, A.BaseCompose):
        raise ValueError(f"{where}.name: {name!r} is not an albumentations transform")
    accepted = inspect.signature(cls.__init__).parameters
    for key in params:
        if key not in accepted:
            raise ValueError(f"{where}.{key}: not a parameter of {name} (accepted: {', '.join(p for p in accepted if p != 'self')})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(**params)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}{_first_problem(error)}") from None


def _first_problem(error: Exception) -> str:
    """The first pydantic error of albumentations' parameter schema, as `.param: message`."""
    for candidate in (error.__cause__, error):
        errors = getattr(candidate, "errors", None)
        if callable(errors) and errors():
            first = errors()[0]
            return f".{first['loc'][0]}: {first['msg']}" if first["loc"] else f": {first['msg']}"
    return f": {str(error).splitlines()[0]}"
