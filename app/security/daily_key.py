"""The key that rate-limit counters are filed under: random, replaced every day, never on disk.

A counter's key is an HMAC of the client address. Were the HMAC key derived from anything
kept on disk (the app's secret key), a seized server would turn every key in a Redis dump
back into an address in seconds: there are only 2^32 IPv4 addresses to try. So the key is
drawn at random for each UTC day and held only in memory, or, when several workers share
Redis for their counts, in Redis under the day's name with a one-day expiry (Redis keeps
nothing on disk in the deployments this portal supports). Yesterday's counters then refer to
a key nobody has any more.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

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

    def __init__(
        self, redis: Any | None = None, name: str = "portal", today: Callable[[], date] = _today
    ) -> None:
        self._redis = redis
        self._name = name
        self._today = today
        self._lock = threading.Lock()
        self._day: date | None = None
        self._key = b""
        self._retry_at: float | None = None  # set while the key is a stand-in for Redis's

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
        if self._redis is None:
            return fresh
        name = f"{self._name}:rate-limit-key:{day.isoformat()}"
        try:
            # The first worker of the day sets it; every other one reads what it set.
            self._redis.set(name, fresh, nx=True, ex=REDIS_EXPIRY_SECONDS)
            stored = self._redis.get(name)
        except Exception as exc:  # redis.RedisError and socket errors alike
            # Counts fall back to memory while Redis is away (Flask-Limiter's fallback):
            # one key of this process's own keeps counting them, until Redis answers.
            log.warning("rate-limit key: Redis unreachable (%s); a key of this process", exc)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return stand_in or fresh
        self._retry_at = None
        return stored if isinstance(stored, bytes) and len(stored) == KEY_BYTES else fresh


def for_storage(storage_uri: str, name: str) -> DailyKey:
    """The daily key for a rate-limit storage URI: in Redis when the counts are there."""
    if storage_uri.startswith(("redis://", "rediss://")):
        import redis

        return DailyKey(redis.Redis.from_url(storage_uri), name)
    return DailyKey(name=name)
