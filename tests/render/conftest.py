"""Fixtures of the render tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def backend():
    """One Blender session with one render thread, shared by a test module's renders."""
    from synthgen.render.backends.blender import BlenderBackend

    instance = BlenderBackend(threads=1)
    yield instance
    instance.close()
