"""A served portal keeps answering while reporters send decompression bombs of every kind.

``portal serve`` (gunicorn, as in production) takes reports whose files are bombs (nested PDF
filters, a JPEG behind them, a huge progressive JPEG, PNG, TIFF, WebP, an Office zip) while
another visitor reads the public pages: each page answers within a second, every report gets
its receipt (files too large to clean stored as sent and said so), and no process of the
server grows past a bound (a 1 MB JPEG once took 594 MB to clean).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.helpers import bombs
from tests.helpers.processes import process_group
from tests.helpers.report_client import Attachment, Browser, ReportRefused
from tests.helpers.servers import (
    CLIENT_ADDRESS,
    SERVER_HOST,
    Server,
    given_ports,
    make_demo_instance,
    portal_env,
)

# One at a time: they may be given the same ports (PORTAL_TEST_SERVER_PORTS).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]

NO_LIMITS = {
    "PORTAL_RATELIMIT_DEFAULT": "1000000 per minute",
    "PORTAL_RATELIMIT_REPORTS": "100000 per hour",
    "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0",  # the test's browser runs no script
    "PORTAL_BODY_READS_PER_CLIENT": "1000000",  # its reports all come from one address
}
ROUNDS = 3
PAGE_SECONDS = 1.0
MAX_RSS = 400 * 1024 * 1024  # any one process of the server, cleaning processes included


def _ports() -> tuple[int, int] | None:
    """PORTAL_TEST_SERVER_PORTS="public,console" where ports are handed out, else free ones."""
    given = given_ports("PORTAL_TEST_SERVER_PORTS", 2)
    return (given[0], given[1]) if given else None


def test_pages_answer_and_memory_stays_bounded_while_bombs_are_cleaned(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    make_demo_instance(instance, monkeypatch)
    files = [Attachment(name, data, content_type="") for name, data in bombs.every_bomb().items()]

    server = Server.start(
        "serve",
        portal_env(instance, **NO_LIMITS),
        tmp_path / "serve.log",
        preexec_fn=os.setsid,
        ports=_ports(),
    )
    pages: list[float] = []
    receipts: list[str] = []
    refused: list[ReportRefused] = []
    rss: list[int] = []
    try:

        def send() -> None:
            browser = Browser(SERVER_HOST, server.public_port, CLIENT_ADDRESS, timeout=120)
            for round_ in range(ROUNDS):
                try:
                    receipts.append(browser.send_report(f"炸弹文件第{round_}轮", files))
                except ReportRefused as error:
                    refused.append(error)

        reporters = [threading.Thread(target=send) for _ in range(2)]
        for reporter in reporters:
            reporter.start()
        while any(reporter.is_alive() for reporter in reporters):
            for path in ("/", "/report/", "/disclosures/"):
                started = time.monotonic()
                status, _body, _headers = server.get(path, timeout=10)
                pages.append(time.monotonic() - started)
                assert status == 200, path
            rss.append(max(p["rss"] for p in process_group(server.process.pid).values()))
            time.sleep(0.05)
        for reporter in reporters:
            reporter.join()
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=30)

    assert not refused, refused[0]
    assert len(receipts) == 2 * ROUNDS
    assert len(pages) >= 10, "the reports were sent before pages were read"
    assert max(pages) < PAGE_SECONDS, sorted(pages)[-5:]
    assert max(rss) < MAX_RSS, max(rss)
