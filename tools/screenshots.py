"""The README's screenshots, taken from the demo in Chinese: ``make screenshots``.

Serves a demo instance with ``portal run`` on free local ports (a new one in a temporary
folder unless ``--instance`` names one made by ``portal demo``), drives Debian's Chromium
(``/usr/bin/chromium``, never a downloaded browser) through the pages a newcomer meets, and
writes one PNG a page into ``docs/screenshots/`` (or ``--out``):

    01-home.png             the public home page
    02-disclosure.png       a disclosure with the record of its collective decision and
                            the workers' congress's review
    03-report-form.png      the anonymous report form
    04-receipt.png          the receipt after sending a report
    05-inbox.png            an inspector's inbox in the console
    06-case.png             the case of that report, opened by the inspector

Chinese text needs a CJK font: ``apt-get install fonts-noto-cjk`` (checked with fc-list).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    "--lang=zh-CN",
]
VIEWPORT = {"width": 1280, "height": 900}
DECISION = "#h-decision"  # the heading of a disclosure's collective decision record
CONGRESS = "#h-congress"  # the heading of the workers' congress's review
TALL = 1600  # a case: its report is below the deadlines
ROOT = Path(__file__).resolve().parent.parent
PORTAL = Path(sys.executable).with_name("portal")

INSPECTOR = "mch.inspector"
REPORT = {
    "category": "procurement_bidding",
    "unit": "MCH-W1",
    "persons": "后勤科长 王某",
    "what": (
        "食堂承包商与后勤科长有亲属关系，近半年采购价格长期高于市价约三成，"
        "大米、食用油的进货单据与实际入库数量不符。"
    ),
}

SHOTS = (
    "01-home.png",
    "02-disclosure.png",
    "03-report-form.png",
    "04-receipt.png",
    "05-inbox.png",
    "06-case.png",
)


class Failed(Exception):
    """A step did not show what it should: the message says which and what was shown."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_cjk_font() -> bool:
    try:
        found = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return False
    return bool(found.stdout.strip())


@contextmanager
def _served(instance: Path, log_file: Path) -> Iterator[tuple[str, str]]:
    """``portal run`` on the instance; yields the public site's and the console's URLs."""
    public, console = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_INSTANCE_PATH=str(instance), PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES="0")
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [str(PORTAL), "run", "--public", public, "--console", console],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process, f"http://{public}/healthz", log_file)
        yield f"http://{public}", f"http://{console}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen, url: str, log_file: Path) -> None:
    # A new instance makes the demo first (its staff keys are sealed at production cost).
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failed(f"portal run stopped:\n{log_file.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise Failed(f"portal run did not come up:\n{log_file.read_text(errors='replace')}")


def _submit(page, selector: str) -> None:
    """Press a form's button once the form's proof of work (if any) is done."""
    for form in page.locator("form[data-pow-challenge]").all():
        form.wait_for(state="attached")
        page.wait_for_function(
            "f => f.dataset.powDone === '1'", arg=form.element_handle(), timeout=180_000
        )
    with page.expect_navigation():
        page.locator(selector).click()


def _shot(page, out: Path, name: str, height: int = VIEWPORT["height"]) -> None:
    """The top of the page, ``height`` pixels of it at most."""
    whole = page.evaluate("document.documentElement.scrollHeight")
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(height, whole)}
    page.screenshot(path=str(out / name), full_page=True, clip=clip, animations="disabled")
    print(f"  {out / name}")


def _disclosure_with_decision(page, public: str) -> str:
    """The first published disclosure whose page shows a collective decision record."""
    page.goto(public + "/disclosures/")
    links = page.locator("main a[href^='/disclosures/']").evaluate_all(
        "as => as.map(a => a.getAttribute('href'))"
    )
    for href in dict.fromkeys(h for h in links if re.fullmatch(r"/disclosures/\d+", h)):
        page.goto(public + href)
        if page.locator(DECISION).count():
            return href
    raise Failed("no disclosure of the demo's first page shows a collective decision record")


def _bottom_of(page, selector: str) -> int:
    """Where the section holding ``selector`` ends on the page, in pixels from the top."""
    return page.locator(selector).evaluate(
        "h => { const box = (h.closest('section') || h.parentElement).getBoundingClientRect();"
        " return Math.ceil(box.bottom + window.scrollY); }"
    )


def _report_ids(instance: Path) -> set[str]:
    database = instance / "portal.sqlite3"
    if not database.exists():
        return set()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM reports")}


def take(instance: Path, out: Path, log_file: Path) -> None:
    from playwright.sync_api import sync_playwright

    from app.services.demo import DEMO_LOGINS
    from app.services.staff import totp_now

    out.mkdir(parents=True, exist_ok=True)
    login = next(item for item in DEMO_LOGINS if item.username == INSPECTOR)
    with _served(instance, log_file) as (public, console), sync_playwright() as playwright:
        before = _report_ids(instance)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = context.new_page()

        page.goto(public + "/")
        _shot(page, out, "01-home.png")

        page.goto(public + _disclosure_with_decision(page, public))
        # The record, and the workers' congress's review below it where there is one.
        bottom = max(_bottom_of(page, h) for h in (DECISION, CONGRESS) if page.locator(h).count())
        _shot(page, out, "02-disclosure.png", height=bottom + 24)

        page.goto(public + "/report/new")
        page.locator("input[name=kind][value=misconduct]").check()
        page.locator("select[name=category]").select_option(REPORT["category"])
        page.locator(f"input[name=unit][value={REPORT['unit']}]").check()
        page.locator("input[name=level][value=staff]").check()
        page.locator("[name=persons]").fill(REPORT["persons"])
        page.locator("[name=what]").fill(REPORT["what"])
        page.locator("[name=what]").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, out, "03-report-form.png")
        _submit(page, "button[name=send]")
        if not page.locator(".receipt-code").count():
            raise Failed(f"no receipt: {page.locator('main').inner_text()[:500]}")
        _shot(page, out, "04-receipt.png")
        context.close()
        new = _report_ids(instance) - before
        if len(new) != 1:
            raise Failed(f"expected one new report, found {len(new)}")

        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = context.new_page()
        page.goto(console + "/login")
        page.locator("[name=username]").fill(login.username)
        page.locator("[name=password]").fill(login.password)
        page.locator("[name=code]").fill(totp_now(login.totp_secret))
        _submit(page, "form:has([name=password]) button[type=submit]")
        if "/login" in page.url:
            raise Failed(f"{INSPECTOR} could not sign in: {page.locator('main').inner_text()}")
        page.goto(console + "/cases/?sort=received")
        _shot(page, out, "05-inbox.png")
        page.goto(console + f"/cases/{new.pop()}")
        if REPORT["what"][:10] not in page.locator("main").inner_text():
            raise Failed(f"the case does not show the report: {page.url}")
        _shot(page, out, "06-case.png", height=TALL)
        context.close()
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--instance", type=Path, help="a demo instance to serve (default: a new one)"
    )
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("Chromium is missing: apt-get install chromium", file=sys.stderr)
        return 2
    if not has_cjk_font():
        print("No Chinese font: apt-get install fonts-noto-cjk", file=sys.stderr)
        return 2
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    print(f"Screenshots into {args.out}:")
    try:
        with tempfile.TemporaryDirectory(prefix="portal-screenshots-") as folder:
            instance = args.instance or Path(folder) / "instance"
            take(instance, args.out, Path(folder) / "portal-run.log")
    except Failed as failure:
        print(f"screenshots: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
