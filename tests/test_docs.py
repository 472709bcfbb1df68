"""What the documentation tells an operator where getting it wrong would cost a reporter."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{1,3} ", text[start + len(heading) :], re.MULTILINE)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def test_the_readme_says_to_keep_the_report_pages_out_of_the_single_sign_on():
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## Single sign-on")
    said = " ".join(section.split())
    assert "Exempt `/report/` from that gateway" in said
    assert "`/static/`" in said  # the report pages' own style sheets and script
    assert "who opens each page" in said  # and why
    # The page it links to holds the nginx lines.
    linked = _section(
        (ROOT / "docs/disclosures.md").read_text(encoding="utf-8"),
        "### Keep the report pages out of the sign-on",
    )
    assert "location /report/" in linked and "No auth_request here" in linked
