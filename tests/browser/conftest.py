"""End-to-end fixtures: the real apps on local ports, driven by Debian's Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.helpers.environment import skip_or_fail
from tests.helpers.servers import free_port


@pytest.fixture
def live_servers(sqlite_instance, demo_sqlite) -> Iterator[dict[str, LiveServer]]:
    # The apps answer only the ports they are bound to (Host header check): give them theirs.
    binds = {s: free_port("127.0.0.1") for s in ("public", "console")}
    settings = {f"{s.upper()}_BIND": f"127.0.0.1:{port}" for s, port in binds.items()}
    servers = {s: LiveServer(sqlite_instance.app(s, **settings), binds[s]) for s in binds}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def playwright():
    if not CHROMIUM.exists():
        skip_or_fail("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.console_messages_seen = []
    page.on("console", lambda message: page.console_messages_seen.append(message.text))
    yield page
    context.close()
