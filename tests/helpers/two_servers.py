"""Two machines behind a load balancer, as tests start them: two ``portal serve`` with
instance folders of their own (no shared disk), one PostgreSQL schema and one Redis database.

What both must share (docs/operations.md, "Several servers") is given to both in their
environment: the database, Redis, both secret keys, the receipt pepper and the seed of the
rate-limit key; the log signing keys are copied from the first machine's instance folder to
the second's, as an operator copies them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.models import Report
from app.services.demo import DEMO_LOGINS
from app.services.staff import TOTP_STEP, totp_now
from crypto.receipts import derive_receipt
from tests.helpers.environment import PG_URL, engine_url, skip_or_fail
from tests.helpers.instances import Content, DatabaseCopies
from tests.helpers.report_client import CSRF_RE, Browser, Multipart
from tests.helpers.servers import (
    CLIENT_ADDRESS,
    CONSOLE_HOST,
    SERVER_HOST,
    Server,
    free_port,
    given_ports,
    portal_env,
)

# Limits high enough for the tests' bursts from one address; each test that counts one
# sets it lower.
OPEN_LIMITS = {
    "PORTAL_RATELIMIT_DEFAULT": "100000 per minute",
    "PORTAL_RATELIMIT_REPORTS": "100000 per hour",
    "PORTAL_RATELIMIT_RECEIPTS": "100000 per hour",
    "PORTAL_RATELIMIT_RECEIPTS_ALL": "100000 per hour",
    "PORTAL_RATELIMIT_REPLIES": "100000 per hour",
    "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0",  # the clients send forms without script
    "PORTAL_REPORT_KDF_PROCESSES": "1",
}
# Made in the instance folder by the first machine, and copied to every other one.
COPIED_FILES = ("keys/disclosure-log.key", "keys/audit-log.key")


def shared_settings(database_url: str, redis_url: str) -> dict[str, str]:
    """What every machine of one installation is given the same (docs/operations.md)."""
    return {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_RATELIMIT_STORAGE_URI": redis_url,
        "PORTAL_PUBLIC_SECRET_KEY": secrets.token_urlsafe(48),
        "PORTAL_CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
        "PORTAL_RECEIPT_PEPPER": secrets.token_urlsafe(48),
        "PORTAL_RATELIMIT_SEED": secrets.token_urlsafe(48),
        # nginx in front (tests/test_two_servers.py) connects from here.
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
    }


def server_ports(count: int) -> list[tuple[int, int]]:
    """(public, console) ports of ``count`` servers: the first of PORTAL_TEST_TWO_SERVER_PORTS
    if given (comma-separated, four: two per server), else free ones."""
    given = given_ports("PORTAL_TEST_TWO_SERVER_PORTS", 4)
    if given is None:
        return [(free_port(SERVER_HOST), free_port(CONSOLE_HOST)) for _ in range(count)]
    return [(given[2 * n], given[2 * n + 1]) for n in range(count)]


@dataclass
class Machine:
    """One machine: its instance folder, its environment and its running server."""

    name: str
    instance: Path
    env: dict[str, str]
    ports: tuple[int, int]
    log: Path
    server: Server | None = None
    starts: int = 0

    def start(self) -> Server:
        self.starts += 1
        log = self.log.with_name(f"{self.log.stem}-{self.starts}.log")
        # A session of its own: the whole server (portal serve, gunicorns, workers) is one
        # process group, killed at once.
        self.server = Server.start(
            "serve",
            self.env,
            log,
            "--workers",
            "1",
            preexec_fn=os.setsid,
            ports=self.ports,
        )
        return self.server

    def kill(self) -> None:
        """SIGKILL to every process of the server at once: the machine lost its power."""
        assert self.server is not None
        os.killpg(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait(timeout=10)

    def stop(self) -> str:
        """Kill what is left of the server (its whole group); what it wrote."""
        if self.server is None:
            return ""
        with_group_gone(self.server)
        return self.server.output_file.read_text(errors="replace")

    def browser(self) -> Browser:
        assert self.server is not None
        return Browser(SERVER_HOST, self.server.public_port, CLIENT_ADDRESS, timeout=60)

    def console(self, cookies: dict[str, str] | None = None) -> Browser:
        """A browser of the console (``cookies``: those of another one, the same browser)."""
        assert self.server is not None
        browser = Browser(CONSOLE_HOST, self.server.console_port, CLIENT_ADDRESS, timeout=60)
        browser.cookies = cookies if cookies is not None else {}
        return browser


def with_group_gone(server: Server) -> None:
    """Make sure no process of a killed server's group is left (its workers too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()


@dataclass
class Installation:
    """Machines of one installation; the shared database's schema and settings."""

    tmp: Path
    database_url: str
    schema: str
    shared: dict[str, str]
    drop: Callable[[str], None]
    machines: list[Machine] = field(default_factory=list)

    @property
    def pepper(self) -> bytes:
        return self.shared["PORTAL_RECEIPT_PEPPER"].encode()

    def machine(self, name: str, ports: tuple[int, int], **settings: str) -> Machine:
        """A machine with an instance folder of its own, the first one's keys copied in."""
        instance = self.tmp / f"instance-{name}"
        instance.mkdir()
        if self.machines:
            first = self.machines[0].instance
            for name_ in COPIED_FILES:
                source = first / name_
                if source.exists():
                    (instance / name_).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    shutil.copy2(source, instance / name_)
        env = portal_env(instance, **{**OPEN_LIMITS, **self.shared, **settings})
        machine = Machine(name, instance, env, ports, self.tmp / f"serve-{name}.log")
        self.machines.append(machine)
        return machine

    def report_id(self, code: str) -> str | None:
        engine = create_engine(engine_url(self.database_url))
        try:
            with Session(engine) as session:
                lookup = derive_receipt(code, self.pepper).lookup_hex
                return session.scalar(select(Report.id).where(Report.lookup_id == lookup))
        finally:
            engine.dispose()

    def close(self) -> list[str]:
        """Stop every machine; their output. (All at once, and a machine still stopping
        after a few seconds is killed: what it wrote until then is what the tests read.)"""
        running = [m.server for m in self.machines if m.server and m.server.process.poll() is None]
        for server in running:
            server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for server in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        outputs = [machine.stop() for machine in self.machines]
        self.drop(self.schema)
        return outputs


def new_installation(tmp: Path, redis_url: str, copies: DatabaseCopies) -> Installation:
    """A new PostgreSQL schema holding the demo organisation (a copy of the tests' one), and
    the settings the machines of the installation share."""
    if not PG_URL:
        skip_or_fail("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL")
    folder = tmp / "database"
    folder.mkdir()
    copy, schema = copies.postgresql(Content.DEMO, folder)
    shared = shared_settings(copy.database_url, redis_url)
    return Installation(tmp, copy.database_url, schema, shared, drop=copies.drop)


# The last TOTP step each demo user signed in with: the console refuses a step used before
# (a replayed code), and the tests sign the same user in more than once in 30 seconds.
_USED_STEPS: dict[str, int] = {}


def _unused_code(username: str, secret: str) -> str:
    """A code of a step not used yet: the current one, else the next (one step of drift is
    accepted), else the current one once the clock reaches a new step."""
    while True:
        now = time.time()
        step = int(now) // TOTP_STEP
        for candidate in (step, step + 1):
            if candidate > _USED_STEPS.get(username, -1):
                _USED_STEPS[username] = candidate
                return totp_now(secret, candidate * TOTP_STEP)
        time.sleep(TOTP_STEP - now % TOTP_STEP + 0.05)


def sign_in(console: Browser, username: str) -> None:
    """Sign a demo user in through the console's login form (password and TOTP code)."""
    login = next(login for login in DEMO_LOGINS if login.username == username)
    token = console.csrf_token("/login")
    body = urllib.parse.urlencode(
        {
            "csrf_token": token,
            "username": login.username,
            "password": login.password,
            "code": _unused_code(login.username, login.totp_secret),
        }
    ).encode()
    status, page, _headers = console.request(
        "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200 and 'name="password"' not in page.decode(), page[:2000]
    assert "portal_console_key" in console.cookies


def form_of(browser: Browser, path: str, **fields: str) -> dict[str, str]:
    """``fields`` with the CSRF token of the page at ``path``, as a browser fills its form."""
    status, page, _headers = browser.request("GET", path)
    assert status == 200, page[:2000]
    found = CSRF_RE.search(page.decode())
    assert found, page[:2000]
    return {"csrf_token": found.group(1), **fields}


def send_form(
    browser: Browser, path: str, data: dict[str, str], multipart: bool = False
) -> tuple[int, str]:
    """POST ``data`` (redirects followed); the status and the page shown."""
    if multipart:
        status, page, _headers = browser.request("POST", path, Multipart(data, []))
    else:
        body = urllib.parse.urlencode(data).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, page, _headers = browser.request("POST", path, body, headers)
    return status, page.decode(errors="replace")


def page_text(html: str) -> str:
    """What a page says, without its markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
