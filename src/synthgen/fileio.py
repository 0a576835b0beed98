"""The one place that writes outputs, reads untrusted inputs, and keeps paths inside their folders.

- Atomic writes: a temporary name beside the target, then a rename, so readers never see half a
  file; files get the permissions the process umask allows (not mkstemp's 0600).
- `staged_folder(out)`: a whole folder that appears complete under its final name or not at all.
- `place_image`: an image put into an output as a copy, a hard link or a relative symlink.
- `inside(root, relative)`: a file name resolved under `root`, refusing anything that leaves it.

Every reader of a user's file goes through the readers at the end: `read_text` (regular files only,
a size limit, UTF-8), `read_json` (and a nesting limit), `read_yaml` (a bound on aliases, so a
"billion laughs" file cannot explode), `open_image` / `image_size` (a cap on decoded pixels checked
from the header, before decoding), `list_files` (a bounded walk that never enters system folders
nor follows links to folders). Each problem is an `InputError` naming the file.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from synthgen.errors import InputError, OutputExistsError, UnsafePathError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LINK_MODES = ("copy", "hardlink", "symlink")


@functools.cache
def _umask() -> int:
    """The process umask, read once: reading it means setting it, which would race with other threads."""
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


# Limits on untrusted inputs (each error message names the limit it hit).
MAX_PIXELS = 89_478_485  # decoded pixels per image: Pillow's own MAX_IMAGE_PIXELS (a quarter GiB of RGBA)
MAX_JSON_BYTES = 2 * 1024**3
MAX_TEXT_BYTES = 64 * 1024**2  # YAML, XML, YOLO label files, class lists
MAX_NESTING = 100  # JSON and YAML nesting
MAX_YAML_ALIASES = 64  # `*alias` uses per YAML file
MAX_FOLDER_ENTRIES = 100_000  # entries a folder walk visits
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def regular_file(path: Path) -> os.stat_result:
    """The stat of `path` (links followed), refusing what is not a regular file (a FIFO, a device, a folder)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file")
    return info


def read_bytes(path: Path, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    size = regular_file(path).st_size
    if size > limit:
        raise InputError(f"{path}: {size} bytes is more than the {limit} this reader accepts")
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path}: more than the {limit} bytes this reader accepts")
    return data


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    """A regular file's text, which must be UTF-8 (a leading byte-order mark is dropped)."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: expected UTF-8 text (got byte 0x{data[error.start]:02x} at offset {error.start})") from None


def read_json(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file, refusing files over `limit` bytes and nesting deeper than `MAX_NESTING`."""
    text = read_text(path, limit)
    try:
        with _nesting_limit():
            return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise InputError(f"{path}: nested more than {MAX_NESTING} levels deep") from None


@contextmanager
def _nesting_limit() -> Iterator[None]:
    """Lower the recursion limit to the current depth + `MAX_NESTING` (the C JSON parser and PyYAML's
    composer recurse once per level), so deep nesting is a RecursionError, not a crash."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(min(previous, depth + 3 * MAX_NESTING))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def read_yaml(path: Path, limit: int = MAX_TEXT_BYTES) -> Any:
    """A YAML file (safe types only), refusing more than `MAX_YAML_ALIASES` aliases and deep nesting."""
    import yaml

    text = read_text(path, limit)
    try:
        with _nesting_limit():
            return yaml.load(text, Loader=_bounded_loader())  # a SafeLoader subclass
    except _TooManyAliases:
        raise InputError(f"{path}: more than {MAX_YAML_ALIASES} YAML aliases (*name); write the values out") from None
    except RecursionError:
        raise InputError(f"{path}: nested more than {MAX_NESTING} levels deep") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None


class _TooManyAliases(Exception):
    pass


@functools.cache
def _bounded_loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """PyYAML's SafeLoader counting `*alias` uses (each can double what the file expands to)."""

        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise _TooManyAliases
            return super().compose_node(parent, index)

    return BoundedLoader


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header, refusing more than `MAX_PIXELS` pixels."""
    with open_image(path) as image:
        return image.size


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """A lazily opened image whose header was checked: a regular file, a format Pillow reads, at most
    `MAX_PIXELS` pixels. Decode with `.convert()` / `np.asarray` inside the block."""
    regular_file(path)
    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"{path}: expected at most {MAX_PIXELS} pixels (got more than {2 * Image.MAX_IMAGE_PIXELS})") from None
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: not an image Pillow can read ({type(error).__name__})") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise InputError(f"{path}: expected at most {MAX_PIXELS} pixels (got {width}x{height})")
        yield image


def list_files(folder: Path, suffixes: tuple[str, ...], hidden: bool = True) -> list[Path]:
    """Regular files (or links to them) under `folder` whose suffix is in `suffixes`, sorted; links to
    folders are not followed, system folders (/proc, /sys, /dev) are refused, and so is a walk that
    would visit more than `MAX_FOLDER_ENTRIES` entries."""
    real = Path(folder).resolve()
    if real == Path("/") or any(real.is_relative_to(system) for system in SYSTEM_FOLDERS):
        raise InputError(f"{folder}: a system folder; point at a folder of your own files")
    found, pending, visited = [], [Path(folder)], 0
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                visited += 1
                if visited > MAX_FOLDER_ENTRIES:
                    raise InputError(f"{folder}: more than {MAX_FOLDER_ENTRIES} entries; point at a smaller folder")
                if not hidden and entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif Path(entry.name).suffix.lower() in suffixes and entry.is_file():
                    found.append(Path(entry.path))
    return sorted(found)
