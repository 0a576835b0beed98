#!/usr/bin/env bash
# Set up synthgen from nothing: Blender's system libraries, a virtual environment in .venv, the package.
# Usage: scripts/setup.sh [EXTRAS]    e.g. scripts/setup.sh all   (default: the core install)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

# Blender (the bpy wheel) needs these X11/GL libraries even when rendering headless.
libs=(libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1)
missing=()
for lib in "${libs[@]}"; do dpkg -s "$lib" >/dev/null 2>&1 || missing+=("$lib"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "error: Blender needs: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "error: synthgen needs Python 3.11 (the bpy 4.5 wheels are cp311); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
# pip's notes about local package mirrors missing on this machine are noise; errors still show.
pip_install() { .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip_install --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[$extras]"
pip_install -e "$spec"
echo "synthgen installed in .venv ($(.venv/bin/synthgen --version))"
