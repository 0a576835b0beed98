"""DiffusionBackend: Scenes -> images painted by a diffusers pipeline, labels from the layout.

Every Scene is first rendered by Blender (one session per worker): its exact instance map and
depth are the labels and the conditioning. Then, per mode:
- `layout`: ControlNet(s) paint the whole picture from the layout's control images;
- `restyle`: the Blender render is repainted by img2img (optionally ControlNet-guided);
- `inpaint`: each object's mask is inpainted, one object at a time, into a real photo; pixels
  outside the masks stay exactly the photo's.
The trust gate scores each instance of the result; below threshold it is regenerated with the
next seed (`action: regenerate`) or kept as an ignore (`iscrowd`) region (`action: drop`).
The model is loaded once per backend (so once per worker) and scenes are painted in batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from synthgen.recipe import Recipe
from synthgen.render.backends.composite import cover
from synthgen.render.backends.diffusion.conditioning import conditioning_image
from synthgen.render.backends.diffusion.loading import device_and_dtype, load_pipeline
from synthgen.render.scene import Render, RenderOrigin, Scene
from synthgen.render.trust import create_scorer


class DiffusionBackend:
    name = "diffusion"

    def __init__(self, recipe: Recipe, threads: int = 0):
        import torch

        preload_triton()
        from synthgen.render.backends.blender import BlenderBackend

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.recipe, self.spec = recipe, recipe.diffusion
        self.device, self.dtype = device_and_dtype(self.spec)
        self.pipe = load_pipeline(self.spec, recipe.base_dir, self.device, self.dtype)
        trust = self.spec.trust
        self.scorer = create_scorer(trust, recipe.base_dir, recipe.class_names, self.device)
        self.layout = BlenderBackend(threads=threads)
        self.model_ids = {"model": self.spec.model, **{f"controlnet{i}": n.model for i, n in enumerate(self.spec.controlnet)}}
        if trust.scorer in ("clip", "detector"):
            self.model_ids["trust"] = ":".join(str(v) for v in (trust.detector, trust.model or trust.weights) if v)

    def close(self) -> None:
        self.layout.close()

    def render(self, scene: Scene) -> Render:
        return self.render_batch([scene])[0]

    def render_batch(self, scenes: list[Scene]) -> list[Render]:
        """Paint `scenes` in one batch, regenerate trust-gate failures with the next seeds, label."""
        layouts = [self.layout.render(scene) for scene in scenes]
        images = self._generate(scenes, layouts, attempt=0)
        scores = [self._score(image, scene, layout) for image, scene, layout in zip(images, scenes, layouts)]
        attempts = [0] * len(scenes)
        threshold = self.spec.trust.threshold
        for attempt in range(1, self.spec.trust.retries + 1 if self.spec.trust.action == "regenerate" else 1):
            failing = [i for i, s in enumerate(scores) if any(v < threshold for v in s.values())]
            if not failing:
                break
            redone = self._generate([scenes[i] for i in failing], [layouts[i] for i in failing], attempt)
            for i, image in zip(failing, redone):
                images[i], scores[i], attempts[i] = image, self._score(image, scenes[i], layouts[i]), attempt
        return [self._result(*parts) for parts in zip(scenes, layouts, images, scores, attempts)]

    # --- painting ---------------------------------------------------------------------------
    def _generate(self, scenes: list[Scene], layouts: list[Render], attempt: int) -> list[np.ndarray]:
        generators = [self.torch.Generator("cpu").manual_seed(scene.diffusion.seed + attempt) for scene in scenes]
        common: dict[str, Any] = {
            "num_inference_steps": self.spec.steps,
            "guidance_scale": self.spec.guidance_scale,
            "output_type": "np",
        }
        if self.spec.mode == "inpaint":
            return self._inpaint(scenes, layouts, generators, common)
        if self.spec.mode == "restyle" and len(self.spec.controlnet) > 1 and len(scenes) > 1:
            # diffusers' ControlNet img2img takes several ControlNets for one image at a time only
            return [image for i in range(len(scenes)) for image in self._generate(scenes[i : i + 1], layouts[i : i + 1], attempt)]
        common.update(
            prompt=[image_prompt(scene) for scene in scenes],
            negative_prompt=[scene.diffusion.negative_prompt for scene in scenes],
            generator=generators,
        )
        if self.spec.controlnet:
            controls = [self._controls(scenes, layouts, net.conditioning) for net in self.spec.controlnet]
            scales = [net.scale for net in self.spec.controlnet]
            common["controlnet_conditioning_scale"] = scales[0] if len(scales) == 1 else scales
            control = controls[0] if len(controls) == 1 else [list(per_image) for per_image in zip(*controls)]
            if self.spec.mode == "restyle" and len(controls) > 1:
                control = control[0]  # one image: a flat list, one control image per ControlNet
            common["image" if self.spec.mode == "layout" else "control_image"] = control
        if self.spec.mode == "layout":
            common.update(height=scenes[0].height, width=scenes[0].width)
        else:
            common.update(image=[Image.fromarray(layout.rgb) for layout in layouts], strength=self.spec.denoise_strength)
        return [_to_uint8(image) for image in self.pipe(**common).images]

    def _inpaint(self, scenes: list[Scene], layouts: list[Render], generators: list, common: dict[str, Any]) -> list[np.ndarray]:
        """Inpaint object k of every image in one batch, for k = 0, 1, ...; keep the photo elsewhere."""
        images = [background_photo(scene) for scene in scenes]
        objects = [[o for o in s.objects if (l.instance_map == o.instance_id).any()] for s, l in zip(scenes, layouts)]
        net = self.spec.controlnet[0] if self.spec.controlnet else None
        for k in range(max(map(len, objects), default=0)):
            batch = [i for i in range(len(scenes)) if len(objects[i]) > k]
            masks = [layouts[i].instance_map == objects[i][k].instance_id for i in batch]
            kwargs = dict(
                common,
                prompt=[scenes[i].diffusion.prompts[objects[i][k].category] for i in batch],
                negative_prompt=[scenes[i].diffusion.negative_prompt for i in batch],
                image=[Image.fromarray(images[i]) for i in batch],
                mask_image=[Image.fromarray(mask.astype(np.uint8) * 255) for mask in masks],
                generator=[generators[i] for i in batch],
                height=scenes[0].height,
                width=scenes[0].width,
                strength=self.spec.denoise_strength,
            )
            if net is not None:
                kwargs["control_image"] = self._controls([scenes[i] for i in batch], [layouts[i] for i in batch], net.conditioning)
                kwargs["controlnet_conditioning_scale"] = net.scale
            for i, mask, painted in zip(batch, masks, self.pipe(**kwargs).images):
                images[i] = np.where(mask[..., None], _to_uint8(painted), images[i])
        return images

    def _controls(self, scenes: list[Scene], layouts: list[Render], kind: str) -> list[Image.Image]:
        names, ade = self.recipe.class_names, self.spec.ade20k_classes
        return [Image.fromarray(conditioning_image(kind, layout, scene, names, ade)) for scene, layout in zip(scenes, layouts)]

    # --- trust gate and labels --------------------------------------------------------------
    def _score(self, image: np.ndarray, scene: Scene, layout: Render) -> dict[int, float]:
        """Trust score per instance id of the objects that will be labelled."""
        if self.scorer is None:
            return {}
        min_area = max(self.recipe.labels.min_area, 1)
        labelled = [(o, layout.instance_map == o.instance_id) for o in scene.objects]
        labelled = [(o, mask) for o, mask in labelled if mask.sum() >= min_area]
        values = self.scorer.score(image, [(o.category, mask) for o, mask in labelled])
        return {o.instance_id: value for (o, _), value in zip(labelled, values)}

    def _result(self, scene: Scene, layout: Render, image: np.ndarray, scores: dict[int, float], attempt: int) -> Render:
        threshold = self.spec.trust.threshold
        info = {
            i: {"score": round(s, 4), "iscrowd": s < threshold, "attributes": {"trust": "dropped" if s < threshold else "kept"}}
            for i, s in scores.items()
        }
        origin = RenderOrigin(
            source="diffusion",
            model_ids=self.model_ids,
            scores={"trust_min": round(min(scores.values()), 4)} if scores else {},
            extra={
                "mode": self.spec.mode,
                "prompt": image_prompt(scene),
                "negative_prompt": scene.diffusion.negative_prompt,
                "diffusion_seed": scene.diffusion.seed + attempt,
                "attempts": attempt + 1,
                "trust": {"scorer": self.spec.trust.scorer, "threshold": threshold},
                **({"background": scene.diffusion.background} if scene.diffusion.background else {}),
            },
        )
        return Render(rgb=image, instance_map=layout.instance_map, depth=layout.depth, instance_info=info, origin=origin)


def preload_triton() -> None:
    """Import triton (torch's kernel compiler) now: imported first after a Blender render, it crashes
    the process (their bundled native libraries clash), and torch or transformers may import it lazily."""
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


def image_prompt(scene: Scene) -> str:
    """The whole-image prompt: the class prompts of the objects present, joined."""
    return ", ".join(scene.diffusion.prompts.values())


def background_photo(scene: Scene) -> np.ndarray:
    """The Scene's background photo, scaled and centre-cropped to the image size."""
    return cover(scene.diffusion.background, scene.width, scene.height, (0.5, 0.5))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8)
