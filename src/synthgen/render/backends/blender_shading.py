"""How a Blender scene looks: object materials, lights and the world (colour or HDRI).

Helpers for `BlenderBackend`; each takes the `bpy` module and decided Scene values, draws nothing
at random. Images (textures, HDRIs) are loaded once per session and reused.
"""

from __future__ import annotations

import math

from synthgen.render.scene import Light, Scene, SceneObject

HDRI_MAP_RESOLUTION = 256


SCENE_MATERIAL = "synthgen_scene_material"  # marks materials made per Scene (removed before the next)


def paint(bpy, blender_object, obj: SceneObject) -> None:
    """Give an object its own material from the Scene, unless its mesh brought materials of its own."""
    paint_surface(bpy, blender_object, obj.color, obj.roughness, obj.metallic, obj.texture)


def paint_surface(
    bpy, blender_object, color: tuple[float, float, float], roughness: float, metallic: float = 0.0, texture: str | None = None
) -> None:
    """A Principled material with these values (and an image texture as base colour, when given)."""
    slot = blender_object.material_slots[0]
    if slot.material is not None:
        return
    material = bpy.data.materials.new(f"{blender_object.name}.material")
    material[SCENE_MATERIAL] = True
    material.use_nodes = True
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    material.diffuse_color = (*color, 1.0)  # what Workbench shows
    if texture:
        _add_texture(bpy, material, bsdf, texture)
    slot.link = "OBJECT"
    slot.material = material


def _add_texture(bpy, material, bsdf, path: str) -> None:
    """Box-projected image texture in object space (needs no UVs) as the base colour."""
    nodes, links = material.node_tree.nodes, material.node_tree.links
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = bpy.data.images.load(path, check_existing=True)
    texture.projection, texture.projection_blend = "BOX", 0.2
    coordinates = nodes.new("ShaderNodeTexCoord")
    links.new(coordinates.outputs["Object"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])


def add_light(bpy, index: int, light: Light, link) -> None:
    """A point, area or sun light at its location, aimed at the origin."""
    from mathutils import Vector

    data = bpy.data.lights.new(f"light{index}", type=light.kind.upper())
    data.energy, data.color = light.energy, light.color
    if light.kind == "area":
        data.size = light.size
    blender_object = link(bpy.data.objects.new(f"light{index}", data))
    blender_object.location = light.location
    blender_object.rotation_euler = (-Vector(light.location)).to_track_quat("-Z", "Y").to_euler()


def add_world(bpy, scene: Scene) -> None:
    """A plain-colour world, or the Scene's HDRI turned `hdri_rotation` degrees about z."""
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = nodes["Background"]
    background.inputs["Color"].default_value = (*scene.world_color, 1.0)
    background.inputs["Strength"].default_value = scene.world_strength
    if scene.hdri:
        environment = nodes.new("ShaderNodeTexEnvironment")
        environment.image = bpy.data.images.load(scene.hdri, check_existing=True)
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value[2] = math.radians(scene.hdri_rotation)
        coordinates = nodes.new("ShaderNodeTexCoord")
        links.new(coordinates.outputs["Generated"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], environment.inputs["Vector"])
        links.new(environment.outputs["Color"], background.inputs["Color"])
        # Cycles' automatic importance map costs seconds per render on CPU; 256 costs milliseconds
        world.cycles.sampling_method, world.cycles.sample_map_resolution = "MANUAL", HDRI_MAP_RESOLUTION
    bpy.context.scene.world = world
