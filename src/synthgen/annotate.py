"""Instance map -> Instances: exact masks, boxes and areas, with the recipe's filters applied."""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.labels import Instance
from synthgen.scene import Scene


def annotate(
    instance_map: np.ndarray, scene: Scene, min_area: int, instance_info: dict[int, dict[str, Any]] | None = None
) -> list[Instance]:
    """One Instance per object visible with at least `min_area` pixels, in instance-id order.

    `instance_map` holds each pixel's object `instance_id` (0 = background, ground, unlabelled).
    `truncated` says whether the visible mask touches the image border. `instance_info` adds
    Instance fields per instance id (e.g. a backend's trust `score`, `iscrowd`).
    """
    ids, areas = np.unique(instance_map, return_counts=True)
    visible = {int(i): int(a) for i, a in zip(ids, areas) if i != 0}
    instances = []
    for obj in scene.objects:
        if visible.get(obj.instance_id, 0) < max(min_area, 1):
            continue
        mask = instance_map == obj.instance_id
        touches_border = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        info = (instance_info or {}).get(obj.instance_id, {})
        instances.append(Instance.from_mask(obj.category, mask, truncated=touches_border, **info))
    return instances
