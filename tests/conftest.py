import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

COCO_PERSON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "coco_person"


@pytest.fixture(scope="session")
def coco_person() -> Path:
    """Four real COCO photos, their labels and a real detector's results (read-only)."""
    folder = Path(os.environ.get("SYNTHGEN_COCO_PERSON", COCO_PERSON))
    if not (folder / "test_coco.json").is_file():
        pytest.fail(f"real test photos not found at {folder}; set SYNTHGEN_COCO_PERSON")
    return folder
