"""axe-core (bundled by axe-playwright-python, nothing downloaded) run on a page in Chromium.

Only WCAG 2.0 and 2.1 rules of levels A and AA are asked for; no rule is ever turned off: a
violation is fixed in the templates or the CSS.

axe needs script (its checks wait on timers), so the page runs with script on; what a browser
without script shows instead (``<noscript>``) is put in place before the check, so that it is
checked too.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.environment import skip_or_fail

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_AXE: Any = None


def _axe() -> Any:
    global _AXE
    if _AXE is None:
        try:
            from axe_playwright_python.sync_playwright import Axe
        except ImportError:
            skip_or_fail("axe-playwright-python not installed (make venv installs the dev extra)")

        _AXE = Axe()
    return _AXE


# Each <noscript> replaced by what it holds, as a browser without script renders it.
_SHOW_NOSCRIPT = """() => document.querySelectorAll("noscript").forEach((element) => {
    const shown = document.createElement("div");
    shown.innerHTML = element.textContent;
    element.replaceWith(...shown.childNodes);
})"""


def violations(page: Any) -> list[str]:
    """What axe finds wrong on the page as it is now: one line per rule and element."""
    page.evaluate(_SHOW_NOSCRIPT)
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    results = _axe().run(page, options=options)
    found = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            target = " ".join(map(str, node["target"]))
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} at {target}: "
                f"{node['html'][:160]} {node.get('failureSummary', '')!r}"
            )
    return found


def assert_accessible(page: Any, what: str = "") -> None:
    """Fail with axe's findings if the page has any WCAG 2.1 A/AA violation."""
    found = violations(page)
    assert not found, f"{what or page.url}:\n  " + "\n  ".join(found)
