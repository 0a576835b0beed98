"""Where the tests find the repository's scenes, assets and real test data (never outside the repository)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENES = REPO / "scenes"
ASSETS = REPO / "assets"
QUICKSTART = SCENES / "quickstart.yaml"
MUG = ASSETS / "meshes" / "mug.obj"
BACKGROUNDS = sorted((ASSETS / "backgrounds").glob("*.jpg"))
COCO_PERSON = REPO / "tests" / "data" / "coco_person"
