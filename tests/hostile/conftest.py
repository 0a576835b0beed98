"""The hostile-input suite's runner: the real `synthgen` command line in a subprocess, under a memory
cap (RLIMIT_AS) and a timeout, so an input that explodes memory or hangs fails its case instead of
the machine; and `snapshot`, a folder tree's contents, to prove inputs unchanged and nothing written
outside. Both are fixtures returning the function: `run_synthgen(args, cwd, timeout, memory_gb, mount, umask)`."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
TIMED_OUT = 124
LARGE = 64 * 1024**2  # files above this are compared by size and modification time, not digest


def synthgen(args: list[str], cwd: Path, timeout: float = 60, memory_gb: float = 4,
             mount: tuple[str, str] | None = None, umask: int | None = None) -> tuple[int, str, str]:
    """Run `synthgen ARGS` in `cwd` with at most `memory_gb` of address space; (exit code, stdout,
    stderr). A run past `timeout` seconds is killed and gives exit code 124. `mount` (options, folder)
    runs it in its own user and mount namespace with a tmpfs mounted there (a full or read-only
    disk); `umask` runs it under that umask."""
    limit = int(memory_gb * 1024**3)
    command = [sys.executable, "-m", "synthgen.cli", *map(str, args)]
    if mount:
        command = ["unshare", "-Urm", "sh", "-c", 'mount -t tmpfs -o "$0" tmpfs "$1" && shift && exec "$@"', *mount, *command]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if umask is not None:
            os.umask(umask)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}  # fmt: skip
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, preexec_fn=limits,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        return TIMED_OUT, _text(expired.stdout), _text(expired.stderr) + f"\n(timed out after {timeout} s)"
    return done.returncode, done.stdout, done.stderr


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` (links not followed) -> a file's digest, a link's target, 'dir', or its type."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                tree[relative] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                tree[relative] = "dir"
            elif path.is_file() and path.stat().st_size > LARGE:
                tree[relative] = f"{path.stat().st_size} bytes, modified {path.stat().st_mtime_ns}"
            elif path.is_file():
                tree[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                tree[relative] = f"special {path.lstat().st_mode:o}"
    return dict(sorted(tree.items()))


@pytest.fixture
def run_synthgen():
    """`synthgen(args, cwd, timeout=60, memory_gb=4) -> (code, stdout, stderr)`: the CLI in a capped subprocess."""
    return synthgen


@pytest.fixture
def snapshot():
    """`tree(root)`: every path under `root` with its digest, link target or type."""
    return tree
