"""Physics placement: drop objects onto the ground (and each other) with Blender's rigid bodies.

Objects are active convex hulls, the ground a passive mesh. The simulation runs a fixed number of
frames from the poses the Scene decided, then the settled poses are written back as plain
transforms and the rigid-body world is removed, so later renders (and the next Scene) see static
objects. Bullet is deterministic for the same start, so the same Scene settles the same way.
"""

from __future__ import annotations

COLLISION_MARGIN = 0.001  # metres; Blender's 0.04 default leaves small objects visibly floating
FRICTION = 0.8


def settle(bpy, bodies: list, ground, frames: int) -> None:
    """Simulate `frames` frames with `bodies` falling onto `ground` (may be None); keep the final poses."""
    scene = bpy.context.scene
    with bpy.context.temp_override(scene=scene):
        bpy.ops.rigidbody.world_add()
    world = scene.rigidbody_world
    world.point_cache.frame_start, world.point_cache.frame_end = 1, frames
    world.solver_iterations = 20
    for blender_object, kind, shape in [(b, "ACTIVE", "CONVEX_HULL") for b in bodies] + (
        [(ground, "PASSIVE", "MESH")] if ground is not None else []
    ):
        _make_rigid(bpy, blender_object, kind, shape)
    scene.frame_set(1)
    for frame in range(2, frames + 1):
        scene.frame_set(frame)
    settled = [(b, b.matrix_world.copy()) for b in bodies]
    members = world.collection
    with bpy.context.temp_override(scene=scene):
        bpy.ops.rigidbody.world_remove()
    bpy.data.collections.remove(members)
    for blender_object, matrix in settled:
        blender_object.matrix_world = matrix
    scene.frame_set(1)


def _make_rigid(bpy, blender_object, kind: str, shape: str) -> None:
    with bpy.context.temp_override(object=blender_object, active_object=blender_object, selected_objects=[blender_object]):
        bpy.ops.rigidbody.object_add(type=kind)
    body = blender_object.rigid_body
    body.collision_shape = shape
    body.use_margin, body.collision_margin = True, COLLISION_MARGIN
    body.friction, body.restitution = FRICTION, 0.0
    body.linear_damping, body.angular_damping = 0.2, 0.4
