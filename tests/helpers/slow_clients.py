"""Slow clients against a real server, and the pages and a report checked meanwhile.

Shared by the tests of ``portal serve`` and ``portal run`` on their own and of the nginx
example in front of ``portal serve``: the same attack, over plain HTTP or TLS.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.helpers.report_client import Attachment, Browser, ReportRefused
from tests.helpers.servers import CLIENT_ADDRESS, SERVER_HOST

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
class Site:
    """Where the clients connect: the server itself, or a proxy in front of it (over TLS when
    ``tls`` is given)."""

    port: int
    host: str = SERVER_HOST
    tls: ssl.SSLContext | None = None

    def connection(
        self, timeout: float = 10.0, source: str = CLIENT_ADDRESS
    ) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, source_address=(source, 0), context=self.tls
            )
        return http.client.HTTPConnection(
            self.host, self.port, timeout=timeout, source_address=(source, 0)
        )

    def get(
        self,
        path: str,
        headers: dict | None = None,
        timeout: float = 10.0,
        source: str = CLIENT_ADDRESS,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        """(status, body, response headers) of a GET on a new connection from ``source``."""
        conn = self.connection(timeout, source)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), response.headers
        finally:
            conn.close()

    def browser(self, timeout: float = 60.0) -> Browser:
        return Browser(self.host, self.port, CLIENT_ADDRESS, timeout=timeout, tls=self.tls)


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
    closes is opened again at the next round, as an attacker would. Over TLS, each completes
    its handshake first, except the silent ones: they send nothing at all."""

    site: Site
    clients: list[Trickler] = field(default_factory=list)
    answers: list[tuple[str, bytes]] = field(default_factory=list)  # kind, first bytes
    opened: int = 0
    opens: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    first_round: threading.Event = field(default_factory=threading.Event)

    def add(self, kind: str, count: int, network: int, opening: bytes) -> None:
        for number in range(count):
            address = f"127.0.{network}.{10 + number}"
            self.clients.append(Trickler(address, opening, kind))

    def add_every_kind(self) -> None:
        """SLOW_UPLOADS uploads from 127.0.1.x, SLOW_HEADERS heads from 127.0.2.x and SILENT
        connections from 127.0.3.x."""
        self.add("upload", SLOW_UPLOADS, 1, upload_opening(self.site.port))
        self.add("headers", SLOW_HEADERS, 2, header_opening(self.site.port))
        self.add("silent", SILENT, 3, b"")

    def reopened(self) -> set[str]:
        """The kinds of client whose connections the server closed and that came back."""
        return {kind for kind, opened in self.opens.items() if opened > self.counts[kind]}

    @property
    def counts(self) -> dict[str, int]:
        return {kind: sum(c.kind == kind for c in self.clients) for kind in self.opens}

    def _open(self, client: Trickler) -> None:
        sock = socket.create_connection(
            (self.site.host, self.site.port), timeout=1, source_address=(client.address, 0)
        )
        if self.site.tls is not None and client.opening:
            try:
                sock = self.site.tls.wrap_socket(sock, server_hostname=self.site.host)
            except OSError:
                sock.close()
                raise
        sock.setblocking(False)
        client.sock = sock
        self.opened += 1
        self.opens[client.kind] = self.opens.get(client.kind, 0) + 1
        if client.opening:
            sock.send(client.opening)

    def _drip(self, client: Trickler) -> None:
        assert client.sock is not None
        try:
            with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
                answer = client.sock.recv(4096)
                if answer:
                    self.answers.append((client.kind, answer[:32]))
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


def upload_opening(port: int) -> bytes:
    """A report form with a large file, its headers whole, its body to come a byte at a time."""
    boundary = "----portal-slow"
    return (
        f"POST /report/new HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def header_opening(port: int) -> bytes:
    """Headers that never end: one more byte of a header line at each round."""
    return f"GET /disclosures/ HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\nX-Slow: ".encode()


def timed_get(site: Site, path: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = site.get(path, timeout=5)[0]
    except OSError:
        status = 0
    return status, time.monotonic() - started


REPORT_LINE = "废钢过磅单据被改写。\n".encode()


def report_during(
    site: Site, codes: list[str], errors: list[str], file_bytes: int = 60_000
) -> None:
    """Send a report with a file of about ``file_bytes`` as a reporter would, into ``codes``
    (its receipt) or ``errors``.

    A reporter told the site is busy sends the form again, as the page asks: a new upload
    takes the place of a slow one, so that is rare (a slow one must have had a moment to
    show its pace)."""
    browser = site.browser()
    lines = max(1, file_bytes // len(REPORT_LINE))
    file = Attachment("现场照片说明（三号仓库）.txt", REPORT_LINE * lines)
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


@dataclass
class Outcome:
    """What the pages and the reporter met while the slow clients ran."""

    trickle: Trickle
    slow: list[tuple[str, int, float]]
    answered: int
    codes: list[str]
    errors: list[str]


def under_attack(
    site: Site, stop_server: Callable[[], None], report_bytes: int = 60_000
) -> Outcome:
    """Run every kind of slow client against ``site`` for ATTACK_SECONDS, asking for each of
    PAGES every 0.2 seconds and sending a report (its file of ``report_bytes``) halfway;
    ``stop_server`` ends the servers once the clients have stopped, whatever happened."""
    trickle = Trickle(site)
    trickle.add_every_kind()
    driver = threading.Thread(target=trickle.run, daemon=True)
    codes: list[str] = []
    errors: list[str] = []
    reporter = threading.Thread(target=report_during, args=(site, codes, errors, report_bytes))
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
                status, took = timed_get(site, path)
                answered += 1
                if status != 200 or took >= ANSWER_WITHIN:
                    slow.append((path, status, round(took, 2)))
            time.sleep(0.2)
        if reporter.ident is not None:
            reporter.join(timeout=60)
    finally:
        trickle.stop.set()
        driver.join(timeout=30)
        stop_server()
    return Outcome(trickle, slow, answered, codes, errors)
