"""A per-process cache of whole public pages, answered before Flask sees the request.

``CachedPages`` is a WSGI layer between the trusted-proxy fix and Flask. A cached page is a
response exactly as it left Flask (security headers, ``Vary`` and ``Cache-Control``
included) for a view that opted in with ``@cached_page(...)`` and a response that sets no
cookie. Its key holds everything such a page depends on, worked out from the WSGI
environment the same way Flask does:

- the endpoint, its URL arguments and the query arguments the view reads (first values);
- the host, scheme and script root that links on the page are built from;
- the language as Flask chooses it: remembered in the signed session cookie, else the
  browser's; a ``?lang=`` switch sets the cookie, so those requests go on to Flask;
- the reader's scope (unit and party membership: never their name), as the app works it out;
- today's date where the enterprise is (overdue markers, dates of answers), as the app says;
- the version of the public record (``services.public_version``), read once per request
  before anything else, so a page is never older than the version it is stored under.

A hit is answered without a Flask request context: no session object, no ORM session, no
rendering. It still counts against the default rate limit, as every request to a cached
view does; a refused one goes on to Flask for the translated 429 page. A miss goes on to
Flask carrying a mark; the view renders and, if its own response may be shared, this
layer stores what Flask sends.

Only pages without per-session content may be cached: no CSRF token, no flashed message,
no form filled in from the session.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import date
from typing import Any

from flask import Flask, current_app, request
from itsdangerous import BadSignature
from limits import parse_many, strategies
from limits.storage import MemoryStorage
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request

from app.errors import LimitReached
from app.extensions import limiter
from app.i18n import current_language, remembered_or_accepted
from app.security.network import client_key, rate_limit_key
from app.services import public_version

# Headers that describe the body; anything else a view sets keeps the page out of the cache.
BODY_HEADERS = {"content-type", "content-length"}
FILL_WAIT_SECONDS = 30
# Session cookies and Accept-Language headers whose language is remembered, per process;
# headers longer than browsers send are worked out each time instead.
MEMO_ENTRIES = 10_000
MEMO_HEADER_CHARS = 256
# Marks in the WSGI environment from this layer to the Flask app and back.
MISS = "portal.page_cache.miss"  # the page is missing: store the response if it may be
STORABLE = "portal.page_cache.storable"  # the view's response may be shared; its language
LIMITED = "portal.page_cache.limited"  # counted here, refused for this many seconds: a 429


class PageCache:
    """Least recently used pages, bounded by count and by total size of the bodies."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._lock = threading.Lock()
        self._filling: dict[Hashable, threading.Event] = {}
        self._pages: OrderedDict[Hashable, tuple[Hashable, bytes, list[tuple[str, str]]]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable, stamp: Hashable) -> tuple[bytes, list[tuple[str, str]]] | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None or found[0] != stamp:
                return None
            self._pages.move_to_end(key)
            return found[1], found[2]

    def put(self, key: Hashable, stamp: Hashable, body: bytes, headers: list) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.size -= len(old[1])
            self._pages[key] = (stamp, body, headers)
            self.size += len(body)
            while len(self._pages) > self.max_entries or self.size > self.max_bytes:
                _key, (_stamp, dropped, _headers) = self._pages.popitem(last=False)
                self.size -= len(dropped)

    def claim(self, key: Hashable) -> threading.Event | None:
        """None if the caller is to render ``key``'s page; else an event set once it is done."""
        with self._lock:
            filling = self._filling.get(key)
            if filling is None:
                self._filling[key] = threading.Event()
            return filling

    def release(self, key: Hashable) -> None:
        with self._lock:
            filling = self._filling.pop(key, None)
        if filling is not None:
            filling.set()

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self.size = 0


class PageLimit:
    """The default rate limit, per client and page, for the cached views.

    Flask-Limiter spends several times the cost of a cached page on resolving which limits
    apply, so these views are exempt from it and counted here: the same limit string, the
    same client key (a keyed hash, never the address), the limiter's own storage (Redis in
    production), and an in-memory fallback when that storage cannot be reached.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.items = parse_many(app.config["RATELIMIT_DEFAULT"])
        self.prefix = f"portal-{app.config['SURFACE']}-pages"
        self.fallback = None
        if app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"):
            self.fallback = strategies.FixedWindowRateLimiter(MemoryStorage())
        # With memory:// the counts live in this process anyway; counting them in a plain
        # dict avoids the timer thread the memory storage starts every 10 ms under load.
        in_memory = str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory:")
        self.local = LocalWindows(self.items) if in_memory else None

    def refusal(self, client_key: str, endpoint: str) -> int | None:
        """Count one request of ``client_key`` (``rate_limit_key``) to ``endpoint``: None if
        it is allowed, else the window in seconds of the limit that refused it."""
        flask_limiter = self.app.extensions["portal.limiter"]
        if not flask_limiter.enabled:
            return None
        identifiers = (self.prefix, client_key, endpoint)
        if self.local is not None:
            return self.local.hit(identifiers)
        try:
            return _first_refusal(flask_limiter.limiter, self.items, identifiers)
        except Exception:  # storage unreachable: count in memory, as the limiter does
            if self.fallback is None:
                raise
            return _first_refusal(self.fallback, self.items, identifiers)


def _first_refusal(strategy: Any, items: list, identifiers: tuple) -> int | None:
    for item in items:
        if not strategy.hit(item, *identifiers):
            return item.get_expiry()
    return None


class LocalWindows:
    """Fixed-window counters in a dict, for limits kept in this process's memory."""

    def __init__(self, items: list) -> None:
        self.windows = [(item.amount, item.get_expiry()) for item in items]
        self._lock = threading.Lock()
        self._counts: dict[tuple, tuple[float, int]] = {}
        self._next_sweep = 0.0

    def hit(self, identifiers: tuple) -> int | None:
        """None if one more request is allowed, else the window in seconds that refused it."""
        now = time.monotonic()
        refused = None
        with self._lock:
            if now >= self._next_sweep:  # drop windows that ended, now and then
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
                self._next_sweep = now + 1.0
            for position, (amount, seconds) in enumerate(self.windows):
                key = (position, identifiers)
                ends, count = self._counts.get(key, (0.0, 0))
                if ends <= now:
                    ends, count = now + seconds, 0
                if count >= amount:
                    refused = seconds
                    break
                self._counts[key] = (ends, count + 1)
        return refused


ReaderScope = Callable[[Mapping[str, Any]], Hashable]


class CachedPages:
    """The WSGI layer that answers GETs of cached views from ``PageCache``.

    ``reader_scope`` gives what a page depends on of the reader of a WSGI request (never
    their name), ``today`` the date that pages show things as of.
    """

    def __init__(
        self,
        app: Flask,
        wsgi_app: Callable,
        reader_scope: ReaderScope,
        today: Callable[[], date],
    ) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.cache: PageCache = app.extensions["portal.page_cache"]
        self.limit: PageLimit = app.extensions["portal.page_limit"]
        self.version: public_version.LatestVersion = app.extensions["portal.public_version"]
        self.reader_scope = reader_scope
        self.today = today
        self._sessions: dict[str, tuple[object, float]] = {}
        self._accepted: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        try:
            page = self._page(Request(environ))
        except Exception:  # Flask answers, with its error page if the fault persists
            page = None
        if page is None:
            return self.wsgi_app(environ, start_response)
        key, stamp, language, client_key, endpoint = page
        found = self.cache.get(key, stamp)
        claimed = False
        if found is None and method == "GET":
            # One thread renders a missing page; the others wait for it instead of rendering
            # the same page at the same time (the first index view of a process is slow).
            filling = self.cache.claim(key)
            if filling is None:
                claimed = True
            elif filling.wait(FILL_WAIT_SECONDS):
                found = self.cache.get(key, stamp)
        if found is not None:
            try:
                refused = self.limit.refusal(client_key, endpoint)
            except Exception:  # Flask counts again and shows the error
                return self.wsgi_app(environ, start_response)
            if refused is not None:
                environ[LIMITED] = refused
                return self.wsgi_app(environ, start_response)
            body, headers = found
            start_response("200 OK", list(headers))
            # HEAD: the GET's headers, Content-Length included, and no body.
            return [body] if method == "GET" else []
        if method == "HEAD":
            return self.wsgi_app(environ, start_response)  # no body to keep from it
        try:
            return self._render(environ, start_response, key, stamp, language)
        finally:
            if claimed:
                self.cache.release(key)

    def _page(self, req: Request) -> tuple | None:
        """The key, stamp and client of a GET (or HEAD) of a cached view; None for any other."""
        app = self.app
        try:
            endpoint, view_args = app.url_map.bind_to_environ(
                req.environ,
                server_name=app.config["SERVER_NAME"],
                subdomain=app.url_map.default_subdomain or None,
            ).match()
        except (HTTPException, RequestRedirect):
            return None
        query_args = getattr(app.view_functions.get(endpoint), "_portal_page_args", None)
        args = req.args
        if query_args is None or "lang" in args:  # a language switch sets the cookie
            return None
        language = self._language(req)
        if language is None:
            return None
        # The version first: the page rendered on a miss is at least as new as it.
        stamp = (self.version(), self.today())
        key = (
            endpoint,
            tuple(sorted(view_args.items())),
            tuple((name, args[name]) for name in query_args if name in args),
            req.host,
            req.scheme,
            req.script_root,
            language,
            self.reader_scope(req.environ),
        )
        return key, stamp, language, client_key(app, req.remote_addr), endpoint

    def _language(self, req: Request) -> str | None:
        """The language Flask will render in, or None if the session holds more than that."""
        remembered = None
        cookie = req.cookies.get(self.app.config["SESSION_COOKIE_NAME"])
        if cookie:
            remembered = self._remembered(cookie)
            if remembered is _PER_SESSION:
                return None
        header = req.headers.get("Accept-Language", "")
        if remembered is None and header in self._accepted:
            return self._accepted[header]
        language = remembered_or_accepted(remembered, req.accept_languages)
        if remembered is None and len(header) <= MEMO_HEADER_CHARS:
            if len(self._accepted) >= MEMO_ENTRIES:
                self._accepted.clear()
            self._accepted[header] = language
        return language

    def _remembered(self, cookie: str) -> object:
        """The language in a session cookie, as Flask reads it (None when unsigned or old)."""
        found = self._sessions.get(cookie)
        if found is not None and time.time() <= found[1]:
            return found[0]
        app = self.app
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        if serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return None
        remembered = data.get("lang")
        if set(data) - {"lang", "csrf_token"}:
            remembered = _PER_SESSION  # a flashed message, say: Flask must render this one
        if len(self._sessions) >= MEMO_ENTRIES:
            self._sessions.clear()
        self._sessions[cookie] = (remembered, signed_at.timestamp() + max_age)
        return remembered

    def _render(
        self,
        environ: dict[str, Any],
        start_response: Callable,
        key: Hashable,
        stamp: Hashable,
        language: str,
    ) -> Iterable[bytes]:
        sent: list[Any] = []

        def keep_headers(status: str, headers: list, exc_info: Any = None) -> Callable:
            sent[:] = [status, headers]
            return start_response(status, headers, exc_info)

        environ[MISS] = True
        iterable = self.wsgi_app(environ, keep_headers)
        storable = (
            environ.get(STORABLE) == language  # rendered in the language of the key
            and sent
            and sent[0].startswith("200 ")
            and not any(name.lower() == "set-cookie" for name, _value in sent[1])
        )
        if not storable:
            return iterable
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        self.cache.put(key, stamp, body, list(sent[1]))
        return [body]


_PER_SESSION = object()


def init_app(app: Flask, reader_scope: ReaderScope, today: Callable[[], date]) -> None:
    """Give ``app`` its cache, in front of Flask and under the trusted-proxy fix.

    ``reader_scope(environ)``: what a page depends on of its reader (never their name);
    ``today()``: the date pages show things as of (overdue markers, dates of answers).
    """
    app.extensions["portal.page_cache"] = PageCache(
        app.config["PAGE_CACHE_ENTRIES"], app.config["PAGE_CACHE_BYTES"]
    )
    app.extensions["portal.page_limit"] = PageLimit(app)
    app.extensions["portal.public_version"] = public_version.LatestVersion(
        app.extensions["portal.db"].engine
    )
    app.wsgi_app = CachedPages(app, app.wsgi_app, reader_scope, today)  # type: ignore[method-assign]
    # First: CSRF checks only apply to unsafe methods; the cached views are exempt from
    # Flask-Limiter and counted by PageLimit instead.
    app.before_request_funcs.setdefault(None, []).insert(0, count_page_request)


def count_page_request() -> None:
    """Count a request to a cached view that ``CachedPages`` did not answer."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if getattr(app.view_functions.get(request.endpoint or ""), "_portal_page_args", None) is None:
        return
    # LIMITED: the cache layer counted this request already; the window that refused it.
    refused = request.environ.get(LIMITED) or app.extensions["portal.page_limit"].refusal(
        rate_limit_key(), request.endpoint
    )
    if refused is not None:
        raise LimitReached(refused)


def cached_page(*query_args: str) -> Callable:
    """Mark a GET view as cacheable; ``query_args`` are the query arguments it reads."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def cached_view(**view_args: Any) -> Any:
            response = current_app.make_response(view(**view_args))
            if (
                request.environ.get(MISS)
                and response.status_code == 200
                and not response.is_streamed
                and all(name.lower() in BODY_HEADERS for name, _value in response.headers)
            ):
                request.environ[STORABLE] = current_language()
            return response

        cached_view._portal_page_args = query_args  # type: ignore[attr-defined]
        return limiter.exempt(cached_view)

    return decorate
