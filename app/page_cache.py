"""A per-process cache of whole public pages.

A cached page is the body and headers a view returned, before ``after_request`` adds the
security headers, the reader ``Vary`` and the session cookie, so those are set on every
response as before. The key holds everything such a page depends on:

- the endpoint, its URL arguments and the query arguments the view reads (first values);
- the language, the reader's scope (unit and party membership: never their name) and the
  script root that ``url_for`` puts in front of links;
- today's date where the enterprise is (overdue markers, dates of answers);
- the version of the public record (``services.public_version``), read once per request
  before anything else, so a page is never older than the version it is stored under.

A hit is answered in ``before_request``: no ORM session, no rendering.

Only pages without per-session content may be cached: no CSRF token, no flashed message,
no form filled in from the session. Views opt in with ``@cached_page(...)``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from limits import parse_many, strategies
from limits.storage import MemoryStorage

from app.disclosures import runtime
from app.disclosures.reader import current_reader
from app.extensions import limiter
from app.i18n import select_locale
from app.security.network import rate_limit_key
from app.services import public_version

# Headers that describe the body; anything else a view sets keeps the page out of the cache.
BODY_HEADERS = {"content-type", "content-length"}
FILL_WAIT_SECONDS = 30


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
        self.items = parse_many(app.config["RATELIMIT_DEFAULT"])
        self.prefix = f"portal-{app.config['SURFACE']}-pages"
        self.fallback = None
        if app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"):
            self.fallback = strategies.FixedWindowRateLimiter(MemoryStorage())
        # With memory:// the counts live in this process anyway; counting them in a plain
        # dict avoids the timer thread the memory storage starts every 10 ms under load.
        in_memory = str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory:")
        self.local = LocalWindows(self.items) if in_memory else None

    def allows(self, app: Flask, endpoint: str) -> bool:
        flask_limiter = app.extensions["portal.limiter"]
        if not flask_limiter.enabled:
            return True
        identifiers = (self.prefix, rate_limit_key(), endpoint)
        if self.local is not None:
            return self.local.hit(identifiers)
        try:
            return all(flask_limiter.limiter.hit(item, *identifiers) for item in self.items)
        except Exception:  # storage unreachable: count in memory, as the limiter does
            if self.fallback is None:
                raise
            return all(self.fallback.hit(item, *identifiers) for item in self.items)


class LocalWindows:
    """Fixed-window counters in a dict, for limits kept in this process's memory."""

    def __init__(self, items: list) -> None:
        self.windows = [(item.amount, item.get_expiry()) for item in items]
        self._lock = threading.Lock()
        self._counts: dict[tuple, tuple[float, int]] = {}
        self._next_sweep = 0.0

    def hit(self, identifiers: tuple) -> bool:
        now = time.monotonic()
        allowed = True
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
                    allowed = False
                    break
                self._counts[key] = (ends, count + 1)
        return allowed


def init_app(app: Flask) -> None:
    """Give ``app`` its cache, looked up before any other ``before_request`` function."""
    app.extensions["portal.page_cache"] = PageCache(
        app.config["PAGE_CACHE_ENTRIES"], app.config["PAGE_CACHE_BYTES"]
    )
    app.extensions["portal.page_limit"] = PageLimit(app)
    app.extensions["portal.public_version"] = public_version.LatestVersion(
        app.extensions["portal.db"].engine
    )
    # First: CSRF checks only apply to unsafe methods and this serves GET alone; the
    # cached views are exempt from Flask-Limiter and counted by PageLimit instead.
    app.before_request_funcs.setdefault(None, []).insert(0, serve_cached_page)
    app.teardown_request(_release_claim)


def page_cache() -> PageCache | None:
    return current_app.extensions.get("portal.page_cache")


def _scope_key() -> tuple[str | None, bool]:
    reader = current_reader()
    return reader.unit_code, reader.party_member


def serve_cached_page() -> Response | None:
    """Answer a GET of a cached view from the cache, or note where its page will go.

    Every request to a cached view counts against the default rate limit, hit or miss.
    The version is read first, so the page rendered on a miss is at least as new as the
    version it is stored under.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    req = request._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get("portal.page_cache")
    query_args = getattr(app.view_functions.get(req.endpoint or ""), "_portal_page_args", None)
    if cache is None or query_args is None:
        return None
    if not app.extensions["portal.page_limit"].allows(app, req.endpoint):
        abort(429)
    if req.method != "GET":
        return None
    stamp = (app.extensions["portal.public_version"](), runtime.today())
    args = req.args
    key = (
        req.endpoint,
        tuple(sorted((req.view_args or {}).items())),
        # Only the arguments present: asking a MultiDict for a missing key is costly.
        tuple((name, args[name]) for name in query_args if name in args),
        req.script_root,
        # The language as the page will be rendered in (remembering ?lang= as usual),
        # without building the Babel locale object a hit does not need.
        select_locale(),
        _scope_key(),
    )
    found = cache.get(key, stamp)
    if found is None:
        # One thread renders a missing page; the others wait for it instead of rendering
        # the same page at the same time (the first index view of a process is slow).
        filling = cache.claim(key)
        if filling is None:
            g.page_cache_claim = (cache, key)
        elif filling.wait(FILL_WAIT_SECONDS):
            found = cache.get(key, stamp)
    if found is not None:
        body, headers = found
        return Response(body, headers=headers)
    g.page_cache_slot = (cache, key, stamp)
    return None


def _release_claim(_exc: BaseException | None) -> None:
    claim = g.pop("page_cache_claim", None)
    if claim is not None:
        cache, key = claim
        cache.release(key)


def cached_page(*query_args: str) -> Callable:
    """Mark a GET view as cacheable; ``query_args`` are the query arguments it reads."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def cached_view(**view_args: Any) -> Any:
            slot = g.pop("page_cache_slot", None)
            if slot is None:
                return view(**view_args)
            cache, key, stamp = slot
            response = current_app.make_response(view(**view_args))
            if (
                response.status_code == 200
                and not response.is_streamed
                and all(name.lower() in BODY_HEADERS for name, _value in response.headers)
            ):
                cache.put(key, stamp, response.get_data(), list(response.headers.items()))
            return response

        cached_view._portal_page_args = query_args  # type: ignore[attr-defined]
        return limiter.exempt(cached_view)

    return decorate
