"""Hand-built Scenes for the scene tests: exact layouts, so the expected labels are known."""

from __future__ import annotations

from synthgen.render.scene import Camera, Light, Scene, SceneObject

WIDTH, HEIGHT = 64, 48


def cube(instance_id: int, x: float = 0.0, y: float = 0.0, z: float = 0.0, scale: float = 1.0, **kwargs) -> SceneObject:
    return SceneObject(
        instance_id=instance_id,
        category=kwargs.pop("category", "cube" if instance_id else "distractor"),
        mesh=kwargs.pop("mesh", "primitive:cube"),
        location=(x, y, z),
        yaw=0.0,
        scale=scale,
        color=(0.8, 0.2, 0.2),
        **kwargs,
    )


def scene(objects=(), distractors=(), camera=None, **kwargs) -> Scene:
    """A grey-floor scene seen from above-front (camera at y = -6, z = 4 looking at the origin)."""
    fields = dict(
        index=0,
        width=WIDTH,
        height=HEIGHT,
        engine="cycles",
        samples=2,
        denoise=False,
        objects=tuple(objects),
        distractors=tuple(distractors),
        camera=camera or Camera(location=(0.0, -6.0, 4.0), look_at=(0.0, 0.0, 0.5), focal_length=35.0),
        lights=(Light(kind="point", location=(2.0, -3.0, 5.0), energy=800.0, color=(1.0, 1.0, 1.0)),),
        ground=True,
        ground_color=(0.5, 0.5, 0.5),
        world_color=(0.8, 0.8, 0.8),
        world_strength=0.5,
        passes=("amodal",),
    )
    fields.update(kwargs)
    return Scene(**fields)
