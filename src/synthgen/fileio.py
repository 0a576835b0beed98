"""The one place that writes outputs and keeps paths inside their folders.

- Atomic writes: a temporary name beside the target, then a rename, so readers never see half a
  file; files get the permissions the process umask allows (not mkstemp's 0600).
- `staged_folder(out)`: a whole folder that appears complete under its final name or not at all.
- `place_image`: an image put into an output as a copy, a hard link or a relative symlink.
- `inside(root, relative)`: a file name resolved under `root`, refusing anything that leaves it.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthgen.errors import InputError, OutputExistsError, UnsafePathError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LINK_MODES = ("copy", "hardlink", "symlink")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # write() and fsync() name no file
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=False) + "\n")


def atomic_write_png(path: Path, array: np.ndarray) -> None:
    """Save an HxW or HxWx3/4 uint8/uint16 array as PNG (no metadata, so bytes are reproducible)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    atomic_write_bytes(path, buffer.getvalue())


def refuse_existing(out: Path) -> None:
    """Outputs are new folders: never mix a command's files into an earlier one's."""
    if out.exists() or out.is_symlink():
        raise OutputExistsError(f"{out}: output folder already exists; choose another -o or remove it")


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a new temporary folder beside `out`; it becomes `out` on success and is deleted on failure.

    The temporary name is made fresh by `mkdtemp`, so a planted file or link cannot redirect it.
    """
    out = Path(out)
    refuse_existing(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        yield staging
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def inside(root: Path, relative: str, what: str) -> Path:
    """`root / relative`, refusing absolute paths and `..` that leave `root` (`what` names the field)."""
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise UnsafePathError(f"{what}: {relative!r} escapes {root}")
    return path


def place_image(source: Path, target: Path, mode: str = "copy", replace: bool = False) -> None:
    """Put `source` at `target` as a copy, a hard link (a copy across file systems) or a relative symlink.

    With `replace`, a file or link already at `target` is removed first (exports rewritten on resume).
    """
    if mode not in LINK_MODES:
        raise InputError(f"--link: must be one of {', '.join(LINK_MODES)}, got {mode!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if replace and (target.is_symlink() or target.exists()):
        target.unlink()
    if mode == "symlink":
        real_source = _real_folder(source.parent) / source.name
        os.symlink(os.path.relpath(real_source, _real_folder(target.parent)), target)
        return
    if mode == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


@functools.lru_cache(maxsize=1024)
def _real_folder(folder: Path) -> Path:
    """`folder` with symlinks resolved (cached: images share a few folders)."""
    return folder.resolve()
