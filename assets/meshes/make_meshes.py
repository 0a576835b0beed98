"""Rebuild the meshes in this folder (our own work, CC0): `python assets/meshes/make_meshes.py`.

mug.obj: an open cylinder with a wall, a bottom and a torus handle, units in metres-ish.
"""

from pathlib import Path

import bpy

HERE = Path(__file__).parent


def make_mug() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_cylinder_add(vertices=48, radius=0.4, depth=1.0, location=(0, 0, 0.5))
    body = bpy.context.active_object
    bpy.ops.mesh.primitive_cylinder_add(vertices=48, radius=0.34, depth=1.0, location=(0, 0, 0.58))
    hollow = bpy.context.active_object
    cut = body.modifiers.new("hollow", "BOOLEAN")
    cut.operation, cut.object = "DIFFERENCE", hollow
    bpy.context.view_layer.objects.active = body
    bpy.ops.object.modifier_apply(modifier=cut.name)
    bpy.data.objects.remove(hollow)
    bpy.ops.mesh.primitive_torus_add(major_radius=0.22, minor_radius=0.05, location=(0.45, 0, 0.5), rotation=(1.5708, 0, 0))
    handle = bpy.context.active_object
    with bpy.context.temp_override(active_object=body, selected_editable_objects=[body, handle]):
        bpy.ops.object.join()
    body.select_set(True)
    bpy.ops.wm.obj_export(filepath=str(HERE / "mug.obj"), export_selected_objects=True, export_materials=False, export_uv=False)


if __name__ == "__main__":
    make_mug()
