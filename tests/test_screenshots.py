"""``make screenshots`` keeps working as the pages change: the README's six pictures are taken
from a demo instance, in Chinese, with Debian's Chromium, and each shows its page."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.browser import CHROMIUM
from tests.helpers.environment import skip_or_fail
from tests.helpers.servers import make_demo_instance
from tools import screenshots

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_the_readme_shows_every_screenshot_the_command_takes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in screenshots.SHOTS:
        assert f"docs/screenshots/{name}" in readme, name
        assert (ROOT / "docs" / "screenshots" / name).is_file(), name


def test_the_command_takes_the_six_pages_of_the_demo(tmp_path, monkeypatch):
    if not CHROMIUM.exists():
        skip_or_fail("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    if not screenshots.has_cjk_font():
        skip_or_fail("no Chinese font for the screenshots (apt-get install fonts-noto-cjk)")
    instance = tmp_path / "instance"
    make_demo_instance(instance, monkeypatch)
    out = tmp_path / "shots"
    taken = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "screenshots.py"),
            "--instance",
            str(instance),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(screenshots.SHOTS)
    for name in screenshots.SHOTS:
        width, height = _png_size(out / name)
        assert width == screenshots.VIEWPORT["width"], name
        assert height >= 400, name
        # A page, not a blank: a picture of text compresses far less than an empty one.
        assert (out / name).stat().st_size > 20_000, name
