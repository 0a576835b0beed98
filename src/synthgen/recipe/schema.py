"""The recipe schema (version 1): pydantic models of every field, and the files a recipe names.

A recipe is data: classes, assets, ranges and choices (never Python classes or pipeline steps).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from synthgen.errors import RecipeError
from synthgen.fileio import IMAGE_SUFFIXES as PHOTO_SUFFIXES
from synthgen.fileio import list_files
from synthgen.formats import EXPORTS
from synthgen.recipe.diffusion import DiffusionSpec
from synthgen.recipe.distributions import Count, Number, PositiveNumber, parse, within

PRIMITIVES = ("cube", "sphere", "cylinder", "cone", "torus", "monkey")
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf")
IMAGE_SUFFIXES = (*PHOTO_SUFFIXES, ".exr", ".hdr")  # textures and HDRI worlds
LIGHT_KINDS = ("point", "area", "sun")
BUILTIN_HDRIS = "builtin"


MAX_IMAGES = 1_000_000  # per recipe run; render more as several runs (seeds)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ImageSpec(Strict):
    width: int = Field(320, ge=8, le=8192)
    height: int = Field(240, ge=8, le=8192)


QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    # samples: the cap per pixel; noise_threshold: adaptive sampling stops a pixel below it (0: off)
    # denoise_prefilter: how OpenImageDenoise treats its albedo and normal guides (fast: as clean; accurate: denoised first)
    "draft": {"samples": 4, "noise_threshold": 0.1, "denoise": True, "denoise_prefilter": "fast"},
    "standard": {"samples": 8, "noise_threshold": 0.05, "denoise": True, "denoise_prefilter": "fast"},
    "final": {"samples": 256, "noise_threshold": 0.01, "denoise": True, "denoise_prefilter": "accurate"},
}
DEVICES = ("auto", "cpu", "gpu")
GPU_BACKENDS = ("optix", "cuda", "hip", "oneapi", "metal")  # in the order `device: auto` tries them


class RenderSpec(Strict):
    """How Cycles renders: a `quality` preset fills `samples`, `noise_threshold` and `denoise` left unset."""

    engine: Literal["cycles", "workbench"] = "cycles"
    quality: Literal[tuple(QUALITY_PRESETS)] = "standard"  # type: ignore[valid-type]
    samples: int = Field(8, ge=1, le=4096, description="samples per pixel; with adaptive sampling, the cap")
    noise_threshold: float = Field(0.05, ge=0, le=1, description="adaptive sampling threshold; 0 renders every sample")
    denoise: bool = Field(True, description="OpenImageDenoise with albedo and normal guides")
    denoise_prefilter: Literal["fast", "accurate"] = Field("fast", description="accurate: denoise the guides first (slower)")
    device: Literal[DEVICES] = "auto"  # type: ignore[valid-type]
    gpu_backend: Literal[GPU_BACKENDS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("quality", "standard") in QUALITY_PRESETS:
            return {**QUALITY_PRESETS[data.get("quality", "standard")], **data}
        return data

    @model_validator(mode="after")
    def _backend_needs_gpu(self) -> RenderSpec:
        if self.gpu_backend is not None and self.device == "cpu":
            raise ValueError(f"gpu_backend {self.gpu_backend!r} needs device 'gpu' or 'auto' (got device 'cpu')")
        return self


class MaterialSpec(Strict):
    """Surface of an object: colour in HSV (each 0..1), roughness, metallic, optional image textures."""

    hue: Number = parse([0.0, 1.0])
    saturation: Number = parse([0.3, 1.0])
    value: Number = parse([0.3, 1.0])
    roughness: Number = parse(0.5)
    metallic: Number = parse(0.0)
    textures: str | None = Field(None, description="image file or folder of images, one picked per object")

    @field_validator("hue", "saturation", "value", "roughness", "metallic")
    @classmethod
    def _unit_range(cls, value: Any) -> Any:
        return within(value, 0, 1)


class ClassSpec(Strict):
    """A labelled class: a mesh file/folder (`asset`) or a built-in `primitive`."""

    name: str = Field(min_length=1)
    asset: str | None = None
    primitive: Literal[PRIMITIVES] | None = None  # type: ignore[valid-type]
    count: Count = parse(1, integer=True)
    scale: PositiveNumber = parse(1.0)
    size: float = Field(1.0, gt=0, description="largest dimension in metres at scale 1")
    material: MaterialSpec = MaterialSpec()

    @model_validator(mode="after")
    def _one_source(self) -> ClassSpec:
        if (self.asset is None) == (self.primitive is None):
            raise ValueError("give exactly one of 'asset' or 'primitive'")
        return self


class DistractorSpec(Strict):
    """Unlabelled clutter: occludes and casts shadows, never gets a label."""

    count: Count = parse(0, integer=True)
    primitives: list[Literal[PRIMITIVES]] = ["cube", "sphere", "cylinder", "cone", "torus"]  # type: ignore[valid-type]
    asset: str | None = Field(None, description="mesh file or folder; when given, primitives are not used")
    scale: PositiveNumber = parse([0.3, 1.0])
    size: float = Field(1.0, gt=0)
    material: MaterialSpec = MaterialSpec()


class DepthOfFieldSpec(Strict):
    """A thin-lens camera focused on one labelled object (picked at random per image)."""

    fstop: PositiveNumber = Field(parse([1.4, 8.0]), description="f-number: smaller is blurrier")

    @field_validator("fstop")
    @classmethod
    def _open_aperture(cls, value: Any) -> Any:
        if value.bounds[0] <= 0:
            raise ValueError(f"fstop must be > 0, got {value.bounds[0]:g}")
        return value


class MotionBlurSpec(Strict):
    """Blur from objects and the camera moving while the shutter is open (24 frames per second)."""

    shutter: PositiveNumber = Field(parse([0.2, 0.6]), description="open time, in frames")
    object_speed: PositiveNumber = Field(parse([0.0, 0.3]), description="m/s, each object, horizontal, random direction")
    camera_speed: PositiveNumber = Field(parse([0.0, 0.2]), description="m/s, random direction")

    @field_validator("shutter")
    @classmethod
    def _shutter_range(cls, value: Any) -> Any:
        return within(value, 0, 2, "shutter", "frames", low_open=True)


class CameraSpec(Strict):
    distance: PositiveNumber = parse([4.0, 8.0])
    elevation: Number = parse([15.0, 60.0])
    azimuth: Number = parse([0.0, 360.0])
    focal_length: PositiveNumber = parse(35.0)
    jitter: PositiveNumber = Field(parse(0.0), description="look-at point moved up to this many metres per axis")
    depth_of_field: DepthOfFieldSpec | None = None
    motion_blur: MotionBlurSpec | None = None
    exposure: Number = Field(parse(0.0), description="stops brighter (+) or darker (-) than the scene's light")

    @field_validator("elevation")
    @classmethod
    def _elevation_range(cls, value: Any) -> Any:
        return within(value, -89, 89, "elevation", "degrees")


class LightSpec(Strict):
    count: Count = parse([1, 3], integer=True)
    kinds: list[Literal[LIGHT_KINDS]] = Field(["point"], min_length=1)  # type: ignore[valid-type]
    energy: PositiveNumber = Field(parse([400.0, 1200.0]), description="watts, point and area lights")
    sun_strength: PositiveNumber = Field(parse([1.0, 4.0]), description="W/m2, sun lights")
    size: PositiveNumber = Field(parse([0.5, 2.0]), description="metres, area lights")
    distance: PositiveNumber = parse([4.0, 8.0])
    elevation: Number = parse([30.0, 80.0])


class WorldSpec(Strict):
    """A plain colour world, or an HDRI (`builtin`: the CC0 studio-light worlds in the bpy wheel)."""

    hdri: str | None = Field(None, description="'builtin', an .exr/.hdr file or a folder of them")
    strength: PositiveNumber = parse([0.2, 0.6])
    rotation: Number = parse([0.0, 360.0])


class BackgroundSpec(Strict):
    """Real photos composited behind a transparent film; the ground only catches shadows."""

    photos: str = Field(description="image file or folder of photos")


class PhysicsSpec(Strict):
    drop_height: PositiveNumber = Field(parse([0.2, 0.6]), description="metres between stacked drop slots")
    frames: int = Field(60, ge=10, le=1000)
    spread: float = Field(0.6, gt=0, description="shrinks the drop area so objects land on each other")


class SceneSpec(Strict):
    ground: bool = True
    placement: Literal["simple", "physics"] = "simple"
    physics: PhysicsSpec = PhysicsSpec()
    camera: CameraSpec = CameraSpec()
    lights: LightSpec = LightSpec()
    world: WorldSpec = WorldSpec()
    background: BackgroundSpec | None = None
    distractors: DistractorSpec = DistractorSpec()


class LabelSpec(Strict):
    min_area: int = Field(16, ge=0)
    visibility: bool = Field(True, description="compute visibility (one index-only render per object)")
    min_visibility: float = Field(0.0, ge=0, le=1)
    amodal: bool = False

    @model_validator(mode="after")
    def _needs_visibility(self) -> LabelSpec:
        if not self.visibility and (self.amodal or self.min_visibility > 0):
            raise ValueError("amodal masks and min_visibility need 'visibility: true'")
        return self


class OutputSpec(Strict):
    formats: list[Literal[EXPORTS]] = ["coco"]  # type: ignore[valid-type]
    depth: Literal["png16", "npy"] | None = Field(None, description="depth maps: millimetres in 16-bit PNG, or metres in .npy")
    normals: bool = False

    @field_validator("formats")
    @classmethod
    def _coco_always(cls, formats: list[str]) -> list[str]:
        return ["coco", *[f for f in dict.fromkeys(formats) if f != "coco"]]


class ResourceSpec(Strict):
    """What each image asks of a Ray cluster (`--executor ray`); does not change the images."""

    num_cpus: float | None = Field(None, gt=0)
    memory: ByteSize | None = None  # bytes, or a size such as "2GiB"
    num_gpus: float | None = Field(None, ge=0)


class Recipe(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    count: int = Field(ge=1, le=MAX_IMAGES)
    backend: Literal["blender", "blenderproc", "diffusion"] = "blender"
    image: ImageSpec = ImageSpec()
    render: RenderSpec = RenderSpec()
    classes: list[ClassSpec] = Field(min_length=1)
    scene: SceneSpec = SceneSpec()
    labels: LabelSpec = LabelSpec()
    output: OutputSpec = OutputSpec()
    resources: ResourceSpec = ResourceSpec()
    augment: list[dict[str, Any]] = Field([], description="albumentations transforms: [{name: ..., <param>: ...}]")
    diffusion: DiffusionSpec | None = None
    _source: Path | None = PrivateAttr(None)

    @field_validator("classes")
    @classmethod
    def _unique_names(cls, classes: list[ClassSpec]) -> list[ClassSpec]:
        seen = set()
        for spec in classes:
            if spec.name in seen:
                raise ValueError(f"class name {spec.name!r} appears twice")
            seen.add(spec.name)
        return classes

    @model_validator(mode="after")
    def _diffusion_fits(self) -> Recipe:
        if self.backend == "diffusion" and self.diffusion is None:
            raise ValueError("backend 'diffusion' needs a 'diffusion:' block")
        return self

    @property
    def source(self) -> Path | None:
        """The recipe file this was loaded from (None when built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def asset_files(self, spec: ClassSpec | DistractorSpec) -> list[Path]:
        """Mesh files of a class's asset (a file, or the sorted mesh files of a folder)."""
        return self.files(spec.asset, MESH_SUFFIXES)

    def files(self, where: str | None, suffixes: tuple[str, ...]) -> list[Path]:
        """`where` (relative to the recipe) as a list: the file itself, or a folder's sorted files of `suffixes`."""
        return files_at(self.base_dir, where, suffixes)

    def content_hash(self) -> str:
        """Hash of everything that decides the images; not `count` (so runs can be extended) nor `resources`."""
        data = self.model_dump(mode="json", exclude={"count", "resources"})
        data["assets"] = {where: [_file_digest(p) for p in files] for where, files in self.input_files().items()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def with_overrides(self, count: int | None = None, seed: int | None = None) -> Recipe:
        """A copy with `count` / `seed` replaced (command-line overrides)."""
        updates = {k: v for k, v in {"count": count, "seed": seed}.items() if v is not None}
        if "count" in updates and not 1 <= updates["count"] <= MAX_IMAGES:
            raise RecipeError([f"--count: expected 1 to {MAX_IMAGES} images (got {count})"])
        if "seed" in updates and not 0 <= updates["seed"] < 2**63:
            raise RecipeError([f"--seed: expected a whole number from 0 to 2**63 - 1 (got {seed})"])
        copy = self.model_copy(update=updates)
        copy._source = self._source
        return copy


    def input_files(self) -> dict[str, list[Path]]:
        """Every file the recipe names (meshes, textures, HDRIs, photos), keyed by field path."""
        return {where: self.files(value, suffixes) for where, (value, suffixes) in file_fields(self.model_dump()).items()}


def file_fields(data: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Field path -> (path as written, accepted suffixes) for every file field of recipe data; works on
    raw YAML data too (wrong types are skipped), so missing files are reported with schema errors."""

    def get(node: Any, *keys: str) -> Any:
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    classes = get(data, "classes")
    specs = [(f"classes[{i}]", c) for i, c in enumerate(classes if isinstance(classes, list) else [])]
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for where, spec in [*specs, ("scene.distractors", get(data, "scene", "distractors"))]:
        found[f"{where}.asset"] = (get(spec, "asset"), MESH_SUFFIXES)
        found[f"{where}.material.textures"] = (get(spec, "material", "textures"), IMAGE_SUFFIXES)
    found["scene.world.hdri"] = (get(data, "scene", "world", "hdri"), IMAGE_SUFFIXES)
    found["scene.background.photos"] = (get(data, "scene", "background", "photos"), IMAGE_SUFFIXES)
    return {where: entry for where, entry in found.items() if isinstance(entry[0], str) and entry[0]}


def files_at(base_dir: Path, where: str | None, suffixes: tuple[str, ...]) -> list[Path]:
    """`where` (relative to `base_dir`) as a list: the file itself, or a folder's sorted files of
    `suffixes` (a bounded walk: `fileio.list_files`)."""
    if where is None:
        return []
    if where == BUILTIN_HDRIS and suffixes == IMAGE_SUFFIXES:
        return builtin_hdris()
    path = (base_dir / where).resolve()
    return list_files(path, suffixes) if path.is_dir() else [path]


def builtin_hdris() -> list[Path]:
    """The CC0 Poly Haven worlds shipped inside the bpy wheel (found without importing bpy)."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return sorted(p for root in roots for p in root.glob("*/datafiles/studiolights/world/*.exr"))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
