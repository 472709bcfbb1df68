"""Slow clients cannot stop the site: the pages answer and a report goes through while dozens
of clients send their uploads a byte every few seconds, their headers a byte at a time, or
nothing at all, straight to the server (``portal serve`` and ``portal run``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from tests.helpers.report_client import Attachment, Browser, ReportRefused
from tests.helpers.servers import CLIENT_ADDRESS, SERVER_HOST, Server, portal_env

pytestmark = pytest.mark.slow

SLOW_UPLOADS = 64
SLOW_HEADERS = 32
SILENT = 16
DRIP_EVERY = 2.0
ATTACK_SECONDS = 20.0
PAGES = ("/healthz", "/", "/disclosures/")
ANSWER_WITHIN = 1.0
NO_PAGE_LIMITS = {
    "PORTAL_RATELIMIT_DEFAULT": "100000 per minute",
    # The test's reporter sends the form at once, without script: its pass counts at once.
    "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0",
}


@dataclass
class Trickler:
    """One slow client, on a loopback address of its own."""

    address: str
    opening: bytes
    kind: str
    sock: socket.socket | None = None


@dataclass
class Trickle:
    """Slow clients, each sending a byte every DRIP_EVERY seconds; a connection the server
    closes is opened again at the next round, as an attacker would."""

    port: int
    clients: list[Trickler] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    opened: int = 0
    opens: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    first_round: threading.Event = field(default_factory=threading.Event)

    def add(self, kind: str, count: int, network: int, opening: bytes) -> None:
        for number in range(count):
            address = f"127.0.{network}.{10 + number}"
            self.clients.append(Trickler(address, opening, kind))

    def reopened(self) -> set[str]:
        """The kinds of client whose connections the server closed and that came back."""
        return {kind for kind, opened in self.opens.items() if opened > self.counts[kind]}

    @property
    def counts(self) -> dict[str, int]:
        return {kind: sum(c.kind == kind for c in self.clients) for kind in self.opens}

    def _open(self, client: Trickler) -> None:
        sock = socket.create_connection(
            (SERVER_HOST, self.port), timeout=1, source_address=(client.address, 0)
        )
        sock.setblocking(False)
        client.sock = sock
        self.opened += 1
        self.opens[client.kind] = self.opens.get(client.kind, 0) + 1
        if client.opening:
            sock.send(client.opening)

    def _drip(self, client: Trickler) -> None:
        assert client.sock is not None
        try:
            with contextlib.suppress(BlockingIOError):
                answer = client.sock.recv(4096)
                if answer:
                    self.answers.append(answer[:32])
                raise ConnectionResetError("answered")
            if client.opening:
                client.sock.send(b"x")
        except OSError:
            client.sock.close()
            client.sock = None

    def run(self) -> None:
        while not self.stop.is_set():
            for client in self.clients:
                if self.stop.is_set():
                    break
                try:
                    if client.sock is None:
                        self._open(client)
                    else:
                        self._drip(client)
                except OSError:
                    client.sock = None
            self.first_round.set()
            self.stop.wait(DRIP_EVERY)
        for client in self.clients:
            if client.sock is not None:
                client.sock.close()


def _upload_opening(port: int) -> bytes:
    # A report form with a large file, its headers whole, its body to come a byte at a time.
    boundary = "----portal-slow"
    return (
        f"POST /report/new HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def _header_opening(port: int) -> bytes:
    # Headers that never end: one more byte of a header line at each round.
    return f"GET /disclosures/ HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\nX-Slow: ".encode()


def _timed_get(server: Server, path: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = server.get(path, timeout=5)[0]
    except OSError:
        status = 0
    return status, time.monotonic() - started


def _report_during(server: Server, codes: list[str], errors: list[str]) -> None:
    # A reporter told the site is busy sends the form again, as the page asks: a new upload
    # takes the place of a slow one, so that is rare (a slow one must have had a moment to
    # show its pace).
    browser = Browser(SERVER_HOST, server.public_port, CLIENT_ADDRESS, timeout=60)
    file = Attachment("现场照片说明（三号仓库）.txt", "废钢过磅单据被改写。\n".encode() * 2000)
    for _attempt in range(3):
        try:
            codes.append(browser.send_report("仓库管理员篡改废钢过磅记录。", [file]))
            return
        except ReportRefused as refused:
            errors.append(f"{refused.status}: {refused.body[:200]!r}")
            if refused.status != 503:
                return
        except OSError as error:
            errors.append(repr(error))
            return


def _portal_serve(sqlite_instance, tmp_path) -> Server:
    env = portal_env(
        sqlite_instance.path,
        PORTAL_DATABASE_URL=sqlite_instance.database_url,
        PORTAL_WORKERS="1",
        PORTAL_BODY_GRACE_SECONDS="3",
        **NO_PAGE_LIMITS,
    )
    return Server.start("serve", env, tmp_path / "serve.log", "--no-jobs")


def _portal_run(tmp_path) -> Server:
    # A new instance: `portal run` builds the demo itself.
    env = portal_env(tmp_path / "run-instance", PORTAL_BODY_GRACE_SECONDS="3", **NO_PAGE_LIMITS)
    return Server.start("run", env, tmp_path / "run.log")


def test_portal_serve_answers_pages_and_takes_reports_while_many_clients_send_slowly(
    sqlite_instance, demo_sqlite, tmp_path
):
    trickle = _check_answers_under_attack(_portal_serve(sqlite_instance, tmp_path))
    # Each kind of slow client was cut off, and came back (heads get 10 seconds).
    assert trickle.reopened() == {"upload", "headers", "silent"}


def test_portal_run_answers_pages_and_takes_reports_while_many_clients_send_slowly(tmp_path):
    # The development server gives each connection a thread of its own: slow heads cost it a
    # thread each, but no page waits for them. Slow bodies are cut as with `portal serve`.
    trickle = _check_answers_under_attack(_portal_run(tmp_path))
    assert "upload" in trickle.reopened()


def _check_answers_under_attack(server: Server) -> Trickle:
    trickle = Trickle(server.public_port)
    trickle.add("upload", SLOW_UPLOADS, 1, _upload_opening(server.public_port))
    trickle.add("headers", SLOW_HEADERS, 2, _header_opening(server.public_port))
    trickle.add("silent", SILENT, 3, b"")
    driver = threading.Thread(target=trickle.run, daemon=True)
    codes: list[str] = []
    errors: list[str] = []
    reporter = threading.Thread(target=_report_during, args=(server, codes, errors))
    slow: list[tuple[str, int, float]] = []
    answered = 0
    try:
        driver.start()
        assert trickle.first_round.wait(30)
        time.sleep(DRIP_EVERY)  # every slow client has started sending
        deadline = time.monotonic() + ATTACK_SECONDS
        reported_at = time.monotonic() + ATTACK_SECONDS / 2
        while time.monotonic() < deadline:
            if reporter.ident is None and time.monotonic() > reported_at:
                reporter.start()
            for path in PAGES:
                status, took = _timed_get(server, path)
                answered += 1
                if status != 200 or took >= ANSWER_WITHIN:
                    slow.append((path, status, round(took, 2)))
            time.sleep(0.2)
        if reporter.ident is not None:
            reporter.join(timeout=60)
    finally:
        trickle.stop.set()
        driver.join(timeout=30)
        stopped = server.stop()
    assert not slow, f"{len(slow)} of {answered} page requests failed or were slow: {slow[:10]}"
    assert codes, errors
    assert len(errors) <= 1, errors
    assert stopped == 0, server.output
    assert "Traceback" not in server.output, server.output[-3000:]
    return trickle
