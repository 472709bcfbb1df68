"""Rate limits: one Flask-Limiter per app, so two apps in one process never share settings.

Views are marked with ``limits.limit(...)`` / ``limits.exempt`` at import time; ``init_app``
applies the marks with the app's own limiter after every blueprint is registered.

Counts kept in memory belong to one process: with several worker processes each counts its
own share and a limit of 5 lets 5 per worker through. ``storage_problem`` says so before a
server starts several workers on memory storage.

Counters live in clock-aligned fixed windows (``AlignedMemoryStorage``, ``AlignedRedisStorage``):
a counter made by a client's first request expires at the end of the window's minute, hour or
day, whenever within it that request came, so its expiry does not tell when the client came.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from flask import Flask
from flask_limiter import Limiter
from limits.storage import MemoryStorage, RedisStorage

from app.security.network import rate_limit_key

F = Callable[..., Any]


def window_end(now: float, seconds: float) -> int:
    """The end of the clock-aligned window of ``seconds`` that ``now`` falls in."""
    seconds = max(int(seconds), 1)
    return (int(now // seconds) + 1) * seconds


SWEEP_SECONDS = 1.0


class _Sweeper:
    """Drops expired counters once a second, on one thread for the life of the storage.

    It stands in for ``MemoryStorage.timer``: that storage asks its timer ``is_alive()`` on
    every count and, when it is not, starts a new ``threading.Timer`` of 10 ms, so that
    requests more than 10 ms apart each started a thread (about a millisecond of a
    request's time). Answering yes keeps the storage from starting any; a counter that
    expired is never counted on (``MemoryStorage.get`` drops it first), so sweeping only
    frees the memory of clients that did not come back. The thread is started again if it
    is gone, as in a process forked after the storage was made.
    """

    def __init__(self, storage: AlignedMemoryStorage) -> None:
        self._storage = weakref.ref(storage)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def is_alive(self) -> bool:
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=_sweep,
                        args=(self._storage,),
                        name="portal-limits-sweep",
                        daemon=True,
                    )
                    self._thread.start()
        return True

    def cancel(self) -> None:  # what MemoryStorage may ask of a Timer
        pass


def _sweep(storage_ref: weakref.ref) -> None:
    while True:
        time.sleep(SWEEP_SECONDS)
        storage = storage_ref()
        if storage is None:
            return
        storage.drop_expired()
        del storage


class AlignedMemoryStorage(MemoryStorage):
    """Flask-Limiter's counters in this process, each expiring at the end of its window."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["portal+memory"]

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.timer = _Sweeper(self)  # type: ignore[assignment]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.timer = _Sweeper(self)  # type: ignore[assignment]

    def drop_expired(self) -> None:
        """Forget the counters whose window has ended."""
        now = time.time()
        for key, expiry in list(self.expirations.items()):
            if expiry > now:
                continue
            with self.locks[key]:
                if self.expirations.get(key, now) <= now:
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
            if key not in self.expirations:
                self.locks.pop(key, None)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        count = super().incr(key, expiry, amount)
        if count == amount:  # the window's first request: the counter was just made
            self.expirations[key] = window_end(time.time(), expiry)
        return count


# The counter's first addition sets its expiry to the end of its window, in Redis's own clock
# (every worker then agrees on the window, whatever its own clock says).
_ALIGNED_INCR = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    local seconds = math.max(math.floor(tonumber(ARGV[1])), 1)
    local now = tonumber(redis.call("time")[1])
    redis.call("expireat", KEYS[1], (math.floor(now / seconds) + 1) * seconds)
end
return current
"""


class AlignedRedisStorage(RedisStorage):
    """Flask-Limiter's counters in Redis, each expiring at the end of its window."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["portal+redis", "portal+rediss"]

    def __init__(self, uri: str, *args: Any, **options: Any) -> None:
        super().__init__(uri.removeprefix("portal+"), *args, **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_expire = self.get_connection().register_script(_ALIGNED_INCR)


def aligned_storage_uri(uri: str) -> str:
    """The storage URI that makes Flask-Limiter count in aligned windows (memory or Redis)."""
    scheme = uri.split("://", 1)[0]
    return f"portal+{uri}" if scheme in ("memory", "redis", "rediss") else uri


class DeferredLimits:
    """Decorators with Flask-Limiter's signature that only mark the view."""

    def limit(self, value: str | Callable[[], str], **options: Any) -> Callable[[F], F]:
        return self._mark("limit", value, options)

    def shared_limit(
        self, value: str | Callable[[], str], scope: str, **options: Any
    ) -> Callable[[F], F]:
        """One count for every view marked with the same ``scope`` (and key)."""
        return self._mark("shared_limit", value, {"scope": scope, **options})

    def _mark(self, kind: str, value: str | Callable[[], str], options: dict) -> Callable[[F], F]:
        def mark(view: F) -> F:
            view.__dict__.setdefault("_portal_limits", []).append((kind, value, options))
            return view

        return mark

    def exempt(self, view: F) -> F:
        view.__dict__["_portal_exempt"] = True
        return view


def init_app(app: Flask) -> Limiter:
    """Create this app's limiter and apply the marked limits to its views."""
    limiter = Limiter(
        key_func=rate_limit_key,
        default_limits=[app.config["RATELIMIT_DEFAULT"]],
        key_prefix=f"portal-{app.config['SURFACE']}",
        storage_uri=aligned_storage_uri(app.config["RATELIMIT_STORAGE_URI"]),
    )
    limiter.init_app(app)
    # The default limit counts every request, before anything that may refuse it (a form
    # without its CSRF token, a body too large): refusals cost work too.
    checks = app.before_request_funcs.setdefault(None, [])
    check = next((f for f in checks if getattr(f, "__self__", None) is limiter), None)
    if check is not None:  # None: limits are switched off (RATELIMIT_ENABLED)
        checks.remove(check)
        checks.insert(0, check)
    for endpoint, view in list(app.view_functions.items()):
        wrapped = view
        for kind, value, options in getattr(view, "_portal_limits", []):
            wrapped = getattr(limiter, kind)(value, **options)(wrapped)
        if getattr(view, "_portal_exempt", False):
            wrapped = limiter.exempt(wrapped)
        app.view_functions[endpoint] = wrapped
    app.extensions["portal.limiter"] = limiter
    return limiter


def storage_problem(config: Mapping[str, Any], workers: int) -> str | None:
    """Why ``workers`` processes cannot keep this configuration's limits, or None if they can."""
    storage = str(config["RATELIMIT_STORAGE_URI"])
    if workers <= 1 or not storage.startswith("memory://"):
        return None
    return (
        f"PORTAL_RATELIMIT_STORAGE_URI: {storage} counts requests in each worker process "
        f"apart, so {workers} workers would let {workers} times the configured rate limits "
        "through. Set PORTAL_RATELIMIT_STORAGE_URI=redis://HOST:6379/0 so that every worker "
        "shares the counts, or serve with one worker (--workers 1 or PORTAL_WORKERS=1)."
    )
