"""The Blender camera: placement, thin-lens depth of field, motion blur and exposure (values from the Scene).

Motion: each moving object (and the camera) gets linear location keys one frame before and after
`MID_FRAME`, so the shutter, centred on `MID_FRAME`, opens and closes around the Scene's poses.
Labels must not blur: `sharp()` turns depth of field and motion blur off for the data renders, so
the object-index pass shows each object where the Scene put it (mid-shutter, in focus or not).
"""

from __future__ import annotations

from contextlib import contextmanager

from synthgen.render.scene import Scene

FPS = 24
MID_FRAME = 1
SENSOR_WIDTH = 36.0


def add_camera(bpy, scene: Scene, link):
    """The Scene's camera, linked into the scene and made active."""
    from mathutils import Vector

    data = bpy.data.cameras.new("camera")
    data.lens, data.sensor_width = scene.camera.focal_length, SENSOR_WIDTH
    data.clip_start, data.clip_end = 0.01, 1000.0
    camera = link(bpy.data.objects.new("camera", data))
    camera.location = scene.camera.location
    direction = Vector(scene.camera.look_at) - Vector(scene.camera.location)
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.camera = camera
    return camera


def apply_realism(bpy, scene: Scene, moving: list[tuple[object, tuple[float, float, float]]]) -> None:
    """Exposure, motion blur (`moving`: Blender objects with their velocities) and focus, after physics settled."""
    blender_scene = bpy.context.scene
    blender_scene.view_settings.exposure = scene.camera.exposure
    render = blender_scene.render
    render.use_motion_blur = scene.camera.shutter > 0
    if render.use_motion_blur:
        render.fps, render.fps_base = FPS, 1.0
        render.motion_blur_shutter, render.motion_blur_position = scene.camera.shutter, "CENTER"
        edit = bpy.context.preferences.edit
        kept, edit.keyframe_new_interpolation_type = edit.keyframe_new_interpolation_type, "LINEAR"
        try:
            for blender_object, velocity in [(blender_scene.camera, scene.camera.velocity), *moving]:
                if any(velocity):
                    _keyframe(blender_object, velocity)
        finally:
            edit.keyframe_new_interpolation_type = kept
    blender_scene.frame_set(MID_FRAME)
    _focus(bpy, scene, [o for o, _ in moving])


def _keyframe(blender_object, velocity: tuple[float, float, float]) -> None:
    from mathutils import Vector

    centre, step = blender_object.location.copy(), Vector(velocity) / FPS
    for frame, sign in ((MID_FRAME - 1, -1), (MID_FRAME + 1, 1)):
        blender_object.location = centre + sign * step
        blender_object.keyframe_insert("location", frame=frame)
    blender_object.location = centre


def _focus(bpy, scene: Scene, objects: list) -> None:
    """Thin lens at `fstop`, focused on the centre of object `focus_instance` (the look-at point without one)."""
    from mathutils import Vector

    camera = bpy.context.scene.camera
    dof = camera.data.dof
    dof.use_dof = scene.camera.fstop > 0
    if not dof.use_dof:
        return
    bpy.context.view_layer.update()
    target = next((o for o in objects if o.pass_index == scene.camera.focus_instance and o.pass_index), None)
    if target is not None:
        point = sum((target.matrix_world @ Vector(corner) for corner in target.bound_box), Vector()) / 8
    else:
        point = Vector(scene.camera.look_at)
    forward = camera.matrix_world.to_quaternion() @ Vector((0.0, 0.0, -1.0))
    dof.aperture_fstop = scene.camera.fstop
    dof.focus_distance = max((point - camera.matrix_world.translation).dot(forward), 0.01)


@contextmanager
def sharp(bpy):
    """Depth of field and motion blur off while inside (for renders whose passes become labels)."""
    blender_scene = bpy.context.scene
    dof = blender_scene.camera.data.dof
    kept = blender_scene.render.use_motion_blur, dof.use_dof
    blender_scene.render.use_motion_blur = dof.use_dof = False
    try:
        yield
    finally:
        blender_scene.render.use_motion_blur, dof.use_dof = kept
