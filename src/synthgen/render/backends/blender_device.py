"""Which device Cycles renders on: the CPU, or the GPUs of one backend (OptiX, CUDA, HIP, oneAPI, Metal).

Discovery asks Cycles' own preferences (`get_device_types`, `get_devices_for_type`), so what is
found is exactly what Cycles can render with. `device: auto` takes the first backend of
`GPU_ORDER` with a GPU, else the CPU; `device: gpu` (or a `gpu_backend`) fails, before anything
renders, when Cycles finds no such GPU. A worker given a `slot` renders on GPU `slot` (modulo the
number found) alone; without a slot, every GPU of the backend renders each image together.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from synthgen.errors import BackendError

GPU_ORDER = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
GPU = tuple[str, str]  # (Cycles device id, name)
DISPLAY = {"OPTIX": "OptiX", "CUDA": "CUDA", "HIP": "HIP", "ONEAPI": "oneAPI", "METAL": "Metal"}


class NoGPUError(BackendError):
    """The recipe asks for a GPU that Cycles cannot find here."""


@dataclass(frozen=True)
class Device:
    """What renders: `kind` "CPU" or a Cycles GPU backend, and the names of the devices used."""

    kind: str
    names: tuple[str, ...] = ()

    @property
    def is_gpu(self) -> bool:
        return self.kind != "CPU"

    def describe(self) -> str:
        """For provenance and the manifest: `cpu`, or e.g. `optix: NVIDIA H200`."""
        return f"{self.kind.lower()}: {', '.join(self.names)}" if self.is_gpu else "cpu"


def choose(found: dict[str, list[GPU]], device: str, gpu_backend: str | None, where: str = "recipe") -> tuple[str, list[GPU]]:
    """(backend, GPUs) from `found` (the GPUs of each backend Cycles supports here), or ("CPU", []).

    Raises NoGPUError, naming what was looked for, when a GPU is required but none is found.
    """
    if gpu_backend is not None:
        wanted = gpu_backend.upper()
        if wanted not in found:
            built = ", ".join(DISPLAY[b] for b in GPU_ORDER if b in found) or "none"
            raise NoGPUError(f"{where}: render.gpu_backend: this Blender build has no {DISPLAY[wanted]} support (got: {built})")
        if not found[wanted]:
            raise NoGPUError(f"{where}: render.gpu_backend: Cycles found no {DISPLAY[wanted]} GPU (got {gpu_backend!r})")
        return wanted, found[wanted]
    if device == "cpu":
        return "CPU", []
    for backend in GPU_ORDER:
        if found.get(backend):
            return backend, found[backend]
    if device == "gpu":
        looked = ", ".join(DISPLAY[b] for b in GPU_ORDER if b in found) or "no GPU backend in this Blender build"
        raise NoGPUError(f"{where}: render.device: Cycles found no GPU (looked for {looked}; got 'gpu'); use device 'auto' or 'cpu'")
    return "CPU", []


def pin(gpus: list[GPU], slot: int | None) -> list[GPU]:
    """The GPUs worker `slot` renders on: GPU `slot` modulo their number, or all of them without a slot."""
    if slot is None or not gpus:
        return list(gpus)
    return [gpus[slot % len(gpus)]]


def discover(bpy) -> dict[str, list[GPU]]:
    """The GPUs (id, name) of each backend this Blender build supports (a backend without GPUs maps to [])."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    supported = [identifier for identifier, *_ in prefs.get_device_types(bpy.context) if identifier in GPU_ORDER]
    return {backend: [(d.id, d.name) for d in prefs.get_devices_for_type(backend) if d.type == backend] for backend in supported}


def use_device(bpy, device: str, gpu_backend: str | None, slot: int | None = None, where: str = "recipe") -> Device:
    """Choose the device (see `choose`), switch Cycles' preferences to it and return it."""
    if device == "cpu" and gpu_backend is None:
        return Device("CPU")
    kind, gpus = choose(discover(bpy), device, gpu_backend, where)
    if kind == "CPU":
        return Device("CPU")
    chosen = pin(gpus, slot)
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = kind
    ids = {gpu_id for gpu_id, _ in chosen}
    for entry in prefs.get_devices_for_type(kind):  # the CPU entry too: it stays off
        entry.use = entry.type == kind and entry.id in ids
    return Device(kind, tuple(name for _, name in chosen))


def forget_inherited_blender_paths() -> None:
    """Drop Blender's script folders from sys.path when bpy is not loaded yet.

    Importing bpy adds `bpy/<version>/scripts/...` to sys.path; a spawned worker inherits that
    path, and there `scripts/modules/bpy` would shadow the real module (`No module named '_bpy'`).
    """
    if "bpy" not in sys.modules:
        sys.path[:] = [p for p in sys.path if not (f"{os.sep}bpy{os.sep}" in p and f"{os.sep}scripts" in p)]


def require_gpu(device: str, gpu_backend: str | None, where: str) -> None:
    """Ask Cycles in this process (importing bpy) and raise NoGPUError when the GPU asked for is missing."""
    forget_inherited_blender_paths()
    import bpy

    choose(discover(bpy), device, gpu_backend, where)


def recipe_where(source: Path | None) -> str:
    """The file name an error starts with."""
    return str(source) if source else "recipe"
