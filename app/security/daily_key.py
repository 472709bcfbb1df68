"""The key that rate-limit counters are filed under: one a day, derived from a seed that lives
only in the memory of the running servers.

A counter's key is an HMAC of the client address. Whoever holds the HMAC key and a copy of the
counters turns every counter back into an address in seconds: there are only 2^32 IPv4
addresses to try. So the key is never kept where the counters are (Redis), nor anywhere on
disk (the instance's secrets): each server start draws a random seed (``portal serve`` hands
one to all its workers through their environment, gunicorn's master does the same for
workers it starts itself), and the key of a UTC day is an HMAC of the day under that seed.

What someone holding the seed (read from a running server's memory or environment) and a copy
of Redis still learns: for each counter in the copy, the address it counts and how many
requests it counted in its window, for the counters still alive when the copy was taken (a
window and the one after it: two days at most for a limit per day). Not which report. After a
restart the seed is gone, and with it every link from the counters to addresses.

Several machines sharing one Redis set ``PORTAL_RATELIMIT_SEED`` (at least 32 characters) in
their environment, never in the instance's files, so that they file an address under the same
counter.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime

KEY_BYTES = 32
_LABEL = b"soe-portal/rate-limit-day/v1\x00"


def _today() -> date:
    return datetime.now(UTC).date()


def new_seed() -> str:
    """A fresh seed, as ``PORTAL_RATELIMIT_SEED`` carries it (never parsed as JSON)."""
    return "seed-" + secrets.token_urlsafe(KEY_BYTES)


class DailyKey:
    """Today's HMAC key, the same in every worker that was given the same seed."""

    def __init__(self, seed: str | bytes | None = None, today: Callable[[], date] = _today) -> None:
        if isinstance(seed, str):
            seed = seed.encode()
        # No seed given: one of this process's own, forgotten when it ends.
        self._seed = seed or secrets.token_bytes(KEY_BYTES)
        self._today = today
        self._current: tuple[date | None, bytes] = (None, b"")  # replaced in one step

    def current(self) -> bytes:
        day = self._today()
        known, key = self._current
        if day != known:
            key = hmac.new(self._seed, _LABEL + day.isoformat().encode(), hashlib.sha256).digest()
            self._current = (day, key)
        return key
