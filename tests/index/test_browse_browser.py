"""A real browser over ``sessions.py browse``: headless Chromium loads the session page, a chart
page and a CJK search, and saves screenshots (``make test-browser`` writes them to docs/images/).

Skips, saying why, where Chromium is not installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("datasette", reason="the 'browse' extra is not installed: pip install -e '.[browse]'")

from tests.browse_helpers import add_history, build_store, wait_until_up  # noqa: E402
from tests.hardening_helpers import free_port, start_script, stop  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found: apt-get install chromium (`make test-browser` tries that itself)",
)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1", "--virtual-time-budget=3000",
)
# (page, file name, window size)
SHOTS = (
    ("/-/session/s-switch", "browse-session.png", (1000, 1220)),
    ("/index/cost_per_day", "browse-chart.png", (1000, 640)),
    ("/index/latency_per_provider", "browse-latency.png", (1000, 560)),
    ("/index/messages?_search=" + quote("全文索引"), "browse-search-cjk.png", (1400, 620)),
)


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data (a blank page has ~2)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels[:: 7]))


def test_chromium_renders_the_session_and_chart_pages(tmp_path: Path) -> None:
    root = tmp_path / ".llm_sessions"
    build_store(root)
    add_history(root)
    out = Path(os.environ.get("BROWSE_SCREENSHOTS") or tmp_path / "shots")
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp_path / "browse.log"
    process = start_script("sessions.py", "browse", "--root", str(root), "--port", str(port), log_path=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/", process, log)
        for page, name, (width, height) in SHOTS:
            target = out / name
            target.unlink(missing_ok=True)
            with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
                done = subprocess.run(
                    [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                     f"--screenshot={target}", base + page],
                    capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                )
            assert target.is_file(), f"no screenshot of {page}: {done.stderr[-2000:]}"
            shot_width, shot_height, colours = png_size_and_colours(target)
            assert (shot_width, shot_height) == (width, height)
            assert colours > 20, f"{name} looks blank"
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            dom = subprocess.run(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", base + "/-/session/s-hostile"],
                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            ).stdout
        # What the browser built from the hostile text: escaped text, no element made from it.
        body = dom.split('<div class="convo">', 1)[1].split("<footer", 1)[0]
        assert "&lt;script&gt;alert" in body, body[:3000]
        assert "<img" not in body and "<script" not in body, body[:3000]
        assert not re.search(r"href=\"\s*javascript:", body, re.IGNORECASE), body[:3000]
    finally:
        assert stop(process) in (0, -15), log.read_text()
