"""The key that rate-limit counters are filed under: random, replaced every day, never on disk.

A counter's key is an HMAC of the client address. Were the HMAC key derived from anything
kept on disk (the app's secret key), a seized server would turn every key in a Redis dump
back into an address in seconds: there are only 2^32 IPv4 addresses to try. So the key is
drawn at random for each UTC day and held only in the short-lived store
(``app.services.ephemeral``): this process's memory, or, when several workers share Redis for
their counts, Redis under the day's name with a one-day expiry (Redis keeps nothing on disk in
the deployments this portal supports). Yesterday's counters then refer to a key nobody has
any more.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from app.services.ephemeral import MemoryStore, Store

KEY_BYTES = 32
# A day and a little more: the key outlives its day only long enough for a late request.
REDIS_EXPIRY_SECONDS = 26 * 3600
# While Redis cannot be reached, a key of this process's own, and Redis asked again this often.
RETRY_SECONDS = 60.0

log = logging.getLogger(__name__)


def _today() -> date:
    return datetime.now(UTC).date()


class DailyKey:
    """Today's random HMAC key, the same in every worker that shares the store."""

    def __init__(self, store: Store | None = None, today: Callable[[], date] = _today) -> None:
        self._store = store if store is not None else MemoryStore(max_entries=4, max_bytes=1024)
        self._today = today
        self._lock = threading.Lock()
        self._day: date | None = None
        self._key = b""
        self._retry_at: float | None = None  # set while the key is a stand-in for the store's

    def current(self) -> bytes:
        day = self._today()
        if day != self._day or (self._retry_at is not None and time.monotonic() > self._retry_at):
            with self._lock:
                if day != self._day or (
                    self._retry_at is not None and time.monotonic() > self._retry_at
                ):
                    self._key = self._fetch(day, self._key if day == self._day else None)
                    self._day = day
        return self._key

    def _fetch(self, day: date, stand_in: bytes | None) -> bytes:
        fresh = secrets.token_bytes(KEY_BYTES)
        try:
            # The first worker of the day sets it; every other one reads what it set.
            stored = self._store.put_new(day.isoformat(), fresh, REDIS_EXPIRY_SECONDS)
        except Exception as exc:  # redis.RedisError and socket errors alike
            # Counts fall back to memory while Redis is away (Flask-Limiter's fallback):
            # one key of this process's own keeps counting them, until Redis answers.
            log.warning("rate-limit key: Redis unreachable (%s); a key of this process", exc)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return stand_in or fresh
        self._retry_at = None
        return stored if isinstance(stored, bytes) and len(stored) == KEY_BYTES else fresh
