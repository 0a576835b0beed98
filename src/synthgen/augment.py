"""Augmentation: the recipe's `augment:` list as an albumentations (2.0.x, MIT) pipeline.

Transforms run on the Render, before labelling: the image, the instance map, the amodal masks, depth
and normals move together (masks with nearest-neighbour), so boxes, masks and visibility are then
computed from the augmented maps, and an instance cropped away simply disappears. Each image's
pipeline is seeded from the Scene (drawn in sampling), so augmented outputs are deterministic.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from synthgen.annotate import touches_border
from synthgen.backends import Render


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


def augment_render(render: Render, specs: list[dict[str, Any]], seed: int) -> Render:
    """Apply the transforms to everything a Render holds; objects a spatial transform pushes against the
    border count as truncated."""
    pipeline = build_pipeline(specs, seed)
    ids = sorted(render.amodal) if render.amodal else []
    maps = [render.instance_map.astype(np.float32), render.depth.astype(np.float32)]
    maps += [render.amodal[i].astype(np.float32) for i in ids]
    extra = {"normals": render.normals} if render.normals is not None else {}
    if extra:
        pipeline.add_targets({"normals": "mask"})
    out = pipeline(image=render.rgb, masks=maps, **extra)
    instance_map = np.rint(out["masks"][0]).astype(np.int32)
    amodal = {i: out["masks"][2 + k] > 0.5 for k, i in enumerate(ids)} if render.amodal is not None else None
    moved = out["image"].shape != render.rgb.shape or not np.array_equal(instance_map, render.instance_map)
    truncated = set(render.truncated) if render.truncated is not None else None
    if moved and truncated is not None:
        for i, mask in (amodal or _masks(instance_map)).items():
            if touches_border(mask):
                truncated.add(i)
    return replace(
        render,
        rgb=np.ascontiguousarray(out["image"]),
        instance_map=instance_map,
        depth=out["masks"][1],
        amodal=amodal,
        normals=out.get("normals") if extra else None,
        truncated=frozenset(truncated) if truncated is not None else None,
    )


def _masks(instance_map: np.ndarray) -> dict[int, np.ndarray]:
    return {int(i): instance_map == i for i in np.unique(instance_map) if i != 0}


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
