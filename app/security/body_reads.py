"""Request bodies, read so that slow senders cannot take every thread of the server.

A thread that reads a request body waits for the client: one that sends a byte every few
seconds holds it as long as it likes, and a few dozen of them used to stop the whole site.
Three rules, per server process, keep the pages and the reporting channel open:

- at most ``BODY_READS`` requests read a body at once (half the threads by default), so that
  page requests always find a thread;
- after ``BODY_GRACE_SECONDS`` a body must have arrived at ``BODY_MIN_BYTES_PER_SECOND`` on
  average, or its connection is cut (a 408 page; nothing of it is kept);
- at most ``BODY_READS_PER_CLIENT`` of them come from one client: one IPv4 address, or one
  IPv6 /64 (a single host may hold a whole /64).

When the places are taken, a new request takes the place of the slowest body that arrives well
below the pace of a real upload: a reporter on a working connection gets through while
attackers trickle. Only when every body in progress arrives at a working pace is the new
request answered at once, its body unread, with a translated 503 page.

Cutting a connection shuts its reading side: a thread blocked in ``recv`` returns at once and
the server cannot linger on the rest of the body, while the answer can still be sent. Nothing
here is written anywhere; the client groups are held in memory while their bodies arrive.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestTimeout, ServiceUnavailable
from werkzeug.wsgi import ClosingIterator

from app.security.network import client_group

# A body below this multiple of the minimum pace may give its place to a new request. Its pace
# counts from its first read: a real upload sends its first bytes with its headers and keeps
# sending; one the app has not read from yet is left EVICTABLE_AFTER seconds.
EVICTABLE_BELOW = 8
EVICTABLE_AFTER = 0.05
WATCH_EVERY = 0.25
RETRY_AFTER_SECONDS = 30
_REFUSED = "portal.body_refused"
# struct tcp_info: tcpi_bytes_received, a __u64 at byte 128 (Linux 4.1 and later).
_BYTES_RECEIVED = struct.Struct("=Q")
_BYTES_RECEIVED_AT = 128
_TCP_INFO_SIZE = _BYTES_RECEIVED_AT + _BYTES_RECEIVED.size

BUSY_MESSAGE = (
    _l("Too many uploads at once"),
    _l(
        "The site is receiving many forms at this moment and could not take yours. Nothing "
        "was stored. Go back, wait a minute and send it again."
    ),
)


class BodyTooSlow(RequestTimeout):
    """A body that did not keep the minimum pace, or gave its place to a faster one."""


class BodiesBusy(ServiceUnavailable):
    """Every place for a body is taken by one that arrives at a working pace."""


def bytes_received(sock: socket.socket | None) -> int | None:
    """The bytes the kernel has received on ``sock`` so far (Linux TCP_INFO), or None.

    The pace of a body is counted as it arrives, not as the app reads it: a server's read of
    a large block returns only once the whole block is there.
    """
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, ValueError):
        return None
    if len(info) < _TCP_INFO_SIZE:
        return None
    return _BYTES_RECEIVED.unpack_from(info, _BYTES_RECEIVED_AT)[0]


def shut_reading_side(sock: socket.socket | None) -> None:
    """Wake a thread blocked reading ``sock`` and make every later read return at once."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)


@dataclass(eq=False)
class Reading:
    """One request's body in progress."""

    group: str
    length: int | None
    sock: socket.socket | None
    started: float
    read: int = 0  # by the app
    cut: bool = False
    socket_start: int | None = None

    def __post_init__(self) -> None:
        self.socket_start = bytes_received(self.sock)

    def arrived(self) -> int:
        """What arrived since the request got its place: on the socket, or read by the app."""
        if self.socket_start is None:
            return self.read
        now = bytes_received(self.sock)
        return self.read if now is None else max(self.read, now - self.socket_start)

    def rate(self, now: float, arrived: int | None = None) -> float:
        arrived = self.arrived() if arrived is None else arrived
        return arrived / max(now - self.started, 0.01)


class BodyReads:
    """The bodies a process reads at one time, and the watch that cuts the slow ones."""

    def __init__(
        self,
        places: int,
        per_client: int,
        min_rate: int,
        grace: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.places = places
        self.per_client = per_client
        self.min_rate = min_rate
        self.grace = grace
        self.clock = clock
        self._lock = threading.Lock()
        self._active: list[Reading] = []
        self._watcher: tuple[int, threading.Thread] | None = None

    def admit(self, group: str, length: int | None, sock: socket.socket | None) -> Reading | None:
        """A place for a body from ``group``, or None when none can be had."""
        now = self.clock()
        with self._lock:
            same_client = [r for r in self._active if r.group == group]
            if len(same_client) >= self.per_client:
                crowded = same_client
            elif len(self._active) >= self.places:
                crowded = self._active
            else:
                crowded = []
            if crowded:
                slowest = self._slowest(crowded, now)
                if slowest is None:
                    return None
                self._cut(slowest)
            reading = Reading(group, length, sock, now)
            self._active.append(reading)
            self._watch()
            return reading

    def received(self, reading: Reading, count: int) -> None:
        reading.read += count
        if count == 0 or (reading.length is not None and reading.read >= reading.length):
            self.release(reading)

    def release(self, reading: Reading) -> None:
        with self._lock:
            if reading in self._active:
                self._active.remove(reading)

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def too_slow(self, reading: Reading, now: float) -> bool:
        due = self.min_rate * (now - reading.started - self.grace)
        if due <= 0:
            return False
        if reading.length is not None:
            due = min(due, reading.length)
        return reading.arrived() < due

    def cut_slow(self) -> bool:
        """Cut the bodies that fell below the pace; whether any body is still in progress."""
        now = self.clock()
        with self._lock:
            for reading in [r for r in self._active if self.too_slow(r, now)]:
                self._cut(reading)
            return bool(self._active)

    def _slowest(self, readings: Iterable[Reading], now: float) -> Reading | None:
        rates = {
            r: r.rate(now)
            for r in readings
            if (r.read or now - r.started >= EVICTABLE_AFTER) and not r.cut
        }
        evictable = [r for r, rate in rates.items() if rate < self.min_rate * EVICTABLE_BELOW]
        return min(evictable, key=rates.__getitem__, default=None)

    def _cut(self, reading: Reading) -> None:
        reading.cut = True
        self._active.remove(reading)
        shut_reading_side(reading.sock)

    def _watch(self) -> None:
        """Start the watch in this process (a forked worker inherits no thread), if not running."""
        pid = os.getpid()
        if self._watcher is not None and self._watcher[0] == pid and self._watcher[1].is_alive():
            return
        thread = threading.Thread(target=self._run_watch, name="portal-body-watch", daemon=True)
        self._watcher = (pid, thread)
        thread.start()

    def _run_watch(self) -> None:
        # Ends when no body is left, so that idle processes (and tests) keep no thread.
        while True:
            time.sleep(WATCH_EVERY)
            if not self.cut_slow():
                with self._lock:
                    if not self._active:
                        self._watcher = None
                        return


class WatchedInput:
    """``wsgi.input`` counting what arrives, and failing once its connection is cut."""

    def __init__(self, stream: Any, reading: Reading, reads: BodyReads) -> None:
        self._stream = stream
        self._reading = reading
        self._reads = reads

    def _counted(self, data: bytes, size: int) -> bytes:
        if self._reading.cut:
            raise BodyTooSlow()
        if data or size != 0:
            self._reads.received(self._reading, len(data))
        return data

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        return self._counted(self._stream.read(size), size)

    def readline(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        return self._counted(self._stream.readline(size), size)


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _has_body(environ: dict[str, Any]) -> bool:
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or bool(_content_length(environ))


class GuardedBodies:
    """WSGI layer giving each request with a body a place in ``BodyReads``, or refusing it."""

    def __init__(self, wsgi_app: Any, reads: BodyReads, ipv6_prefix: int = 64) -> None:
        self.wsgi_app = wsgi_app
        self.reads = reads
        self.ipv6_prefix = ipv6_prefix

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not _has_body(environ):
            return self.wsgi_app(environ, start_response)
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = None if chunked else _content_length(environ)
        reading = self.reads.admit(
            client_group(environ.get("REMOTE_ADDR"), self.ipv6_prefix), length, sock
        )
        if reading is None:
            # Not a byte of it is read: the app answers 503 at once, and the server closes the
            # connection instead of waiting for the rest.
            shut_reading_side(sock)
            environ.update({"wsgi.input": io.BytesIO(), "CONTENT_LENGTH": "0", _REFUSED: True})
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            return self.wsgi_app(environ, start_response)
        environ["wsgi.input"] = WatchedInput(environ["wsgi.input"], reading, self.reads)
        release = partial(self.reads.release, reading)
        try:
            return ClosingIterator(self.wsgi_app(environ, start_response), release)
        except BaseException:
            release()
            raise


def _refuse_when_busy() -> None:
    if request.environ.get(_REFUSED):
        raise BodiesBusy()


def _busy_page(_error: BodiesBusy):
    from app.errors import render_error

    response = current_app.make_response(render_error(503, *BUSY_MESSAGE))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def body_reads(config: Any) -> BodyReads:
    return BodyReads(
        places=config["BODY_READS"],
        per_client=config["BODY_READS_PER_CLIENT"],
        min_rate=config["BODY_MIN_BYTES_PER_SECOND"],
        grace=config["BODY_GRACE_SECONDS"],
    )


def init_app(app: Flask) -> None:
    """Guard every request body; to be wrapped only by the trusted-proxy layer (it counts
    clients by their real address)."""
    reads = app.extensions["portal.body_reads"] = body_reads(app.config)
    prefix = app.config["RATELIMIT_IPV6_PREFIX"]
    app.wsgi_app = GuardedBodies(app.wsgi_app, reads, prefix)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_when_busy)
    app.register_error_handler(BodiesBusy, _busy_page)
