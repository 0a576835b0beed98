"""Open a static HTML page in headless Chromium, as a reader's browser would, and see what loaded."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PROBE = (
    "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
    " document.body.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length + '/' + imgs.length; });"
    "</script></body>"
)


def open_in_chromium(page: Path) -> tuple[int, int, str]:
    """(images that loaded, images, the page's DOM after loading) for `page`, opened through a probe
    copy beside it (so relative image paths resolve as they do for the page)."""
    probe = page.parent / f"probe_{page.name}"
    probe.write_text(page.read_text().replace("</body>", PROBE))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    probe.unlink()
    loaded = re.search(r'data-loaded="(\d+)/(\d+)"', result.stdout)
    assert loaded, result.stderr[-2000:]
    return int(loaded[1]), int(loaded[2]), result.stdout
