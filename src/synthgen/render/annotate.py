"""Instance map -> Instances: exact masks, boxes and areas, visibility, truncation, with the recipe's filters."""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.labels import Instance, encode_mask
from synthgen.render.scene import Scene


def annotate(
    instance_map: np.ndarray,
    scene: Scene,
    min_area: int,
    *,
    amodal: dict[int, np.ndarray] | None = None,
    truncated: frozenset[int] | None = None,
    min_visibility: float = 0.0,
    keep_amodal: bool = False,
    instance_info: dict[int, dict[str, Any]] | None = None,
) -> list[Instance]:
    """One Instance per labelled object with at least `min_area` visible pixels, in instance-id order.

    `instance_map` holds each pixel's object `instance_id` (0 = background, ground, distractors).
    With `amodal` (each id's unoccluded mask within the frame), `visibility` = visible pixels /
    amodal pixels, and instances under `min_visibility` are dropped; `keep_amodal` stores the amodal
    mask (joined with the visible one) on the instance. `truncated` (ids reaching outside the frame) comes from the backend;
    without it, an instance is truncated when its visible mask touches the image border.
    `instance_info` adds Instance fields per instance id (e.g. a backend's trust `score`, `iscrowd`).
    """
    ids, areas = np.unique(instance_map, return_counts=True)
    visible = {int(i): int(a) for i, a in zip(ids, areas) if i != 0}
    instances = []
    for obj in scene.objects:
        if visible.get(obj.instance_id, 0) < max(min_area, 1):
            continue
        mask = instance_map == obj.instance_id
        visibility, amodal_mask = None, None
        if amodal is not None:
            amodal_mask = amodal[obj.instance_id] | mask
            visibility = round(visible[obj.instance_id] / int(amodal_mask.sum()), 6)
            if visibility < min_visibility:
                continue
        is_truncated = obj.instance_id in truncated if truncated is not None else touches_border(mask)
        info = (instance_info or {}).get(obj.instance_id, {})
        instance = Instance.from_mask(obj.category, mask, truncated=is_truncated, visibility=visibility, **info)
        if keep_amodal:
            instance.amodal_mask = encode_mask(amodal_mask)
        instances.append(instance)
    return instances


def touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
