"""The dataset folder every command reads and writes.

```
DATASET/
  images/000000.png        the images
  annotations.json         COCO instances (ids from 1), provenance on every image
  semantic/000000.png      class ids per pixel (0 = background)
  yolo/ yolo-seg/          when asked: data.yaml, images/, labels/
  depth/ normals/          when the recipe asks for them
  manifest.json            the resolved recipe, counts, timings, versions
  .synthgen/               run state: the recipe lock and one finished record per image (resume)
```
"""

from __future__ import annotations

IMAGES = "images"
ANNOTATIONS = "annotations.json"
SEMANTIC = "semantic"
MANIFEST = "manifest.json"
STATE = ".synthgen"
DEPTH = "depth"
NORMALS = "normals"


def image_name(index: int) -> str:
    """File stem for image `index` (zero-padded so names sort in index order)."""
    return f"{index:06d}"
