"""gunicorn's threaded worker, taking a thread only for a request whose headers have arrived.

The gthread worker hands a new connection to a thread at once; the thread then waits up to
five seconds for a first byte and, once one came, for the rest of the headers with no limit at
all. A client that sends its headers a byte at a time (slowloris), or many that connect and
send nothing, held every thread. Here the worker's event loop gathers the headers of each
request, on new and kept-alive connections alike, without a thread: a connection whose headers
are not complete within ``HEADER_SECONDS`` is closed, and only a complete head goes to a thread.
The body is the app's to bound (``app.security.body_reads``).

TLS and HTTP/2 with prior knowledge are set up in a thread, as gunicorn does them; the portal
serves plain HTTP/1.1 behind nginx or on the intranet, where this applies.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

HEADER_SECONDS = 10.0
HEAD_LIMIT = 64 * 1024


def head_complete(head: bytes | bytearray) -> bool:
    """Whether ``head`` holds a request line and all its header lines."""
    head = bytes(head).lstrip(b"\r\n")
    return b"\r\n\r\n" in head or b"\n\n" in head


class HeadersFirstWorker(ThreadWorker):
    """The gthread worker, its event loop reading each request's headers before a thread does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose headers are arriving, by their deadline (insertion order is
        # deadline order: each gets the same time from when it starts).
        self.heading: dict[Any, float] = {}
        # Each waiting head is held in memory, up to worker_connections of them: a head longer
        # than this (no browser sends one) ends its connection.
        self.head_limit = HEAD_LIMIT

    def _reads_heads(self, conn: Any) -> bool:
        return not (
            self.cfg.is_ssl
            or conn.is_http2
            or getattr(self.cfg, "protocol", "http") != "http"
            or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        )

    def enqueue_req(self, conn: Any) -> None:
        if getattr(conn, "head_ready", False) or not self._reads_heads(conn):
            conn.head_ready = False
            super().enqueue_req(conn)
            return
        # What a previous request's body drain read ahead is the start of the next head.
        head = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.head = bytearray(head)
        conn.sock.setblocking(False)
        if head_complete(conn.head):
            self._head_ready(conn)
            return
        self.heading[conn] = time.monotonic() + HEADER_SECONDS
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn: Any, _sock: Any) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or len(conn.head) + len(data) > self.head_limit:
            self._drop_heading(conn)
            return
        conn.head += data
        if head_complete(conn.head):
            self.poller.unregister(conn.sock)
            del self.heading[conn]
            self._head_ready(conn)

    def _head_ready(self, conn: Any) -> None:
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = None
        conn.data_ready = True  # no thread waits for a first byte: it is here
        conn.head_ready = True
        self.enqueue_req(conn)

    def _drop_heading(self, conn: Any) -> None:
        self.heading.pop(conn, None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self.heading.items()):
            if deadline > now:
                break
            self._drop_heading(conn)
