"""Augmentation: the recipe's `augment:` list as an albumentations (2.0.x, MIT) pipeline.

Transforms run on the Render, before labelling: the image, the instance map, the amodal masks, depth
and normals move together (masks with nearest-neighbour), so boxes, masks and visibility are then
computed from the augmented maps, and an instance cropped away simply disappears. Each image's
pipeline is seeded from the Scene (drawn in sampling), so augmented outputs are deterministic.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from synthgen.recipe.augmentation import build_pipeline
from synthgen.render.annotate import touches_border
from synthgen.render.scene import Render


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
