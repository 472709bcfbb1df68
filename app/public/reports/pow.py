"""A proof of work for the report form: single-use challenges, harder as reports flood in.

The page carries a challenge the server issued; a small same-origin script finds a nonce such
that SHA-256("challenge:nonce") starts with ``bits`` zero bits, and sends it with the form. A
challenge is accepted once and for a limited time. Forms sent with a solved challenge count
against the global budget of reports; forms sent without one (no JavaScript) count against a
separate, smaller budget, so a flood from scripts that do no work cannot exhaust the channel
for people, and people without JavaScript can still report.

The difficulty rises by one bit each time the reports of the current hour double past
``REPORT_POW_STEP``. Challenges are kept in memory or in Redis (with an expiry), never with
anything about the client.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

CHALLENGE_SECONDS = 30 * 60
MAX_NONCE_LENGTH = 32


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def solves(challenge: str, nonce: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return leading_zero_bits(digest) >= bits


class _MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, key: str, seconds: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._items) > 10000:  # drop what has expired
                self._items = {k: t for k, t in self._items.items() if t > now}
            self._items[key] = now + seconds

    def take(self, key: str) -> bool:
        with self._lock:
            expiry = self._items.pop(key, None)
        return expiry is not None and expiry > time.monotonic()

    def count(self, key: str, add: int) -> int:
        with self._lock:
            if key not in self._counts:
                self._counts = {key: 0}  # a new hour: forget the last one
            self._counts[key] += add
            return self._counts[key]


class _RedisStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def add(self, key: str, seconds: int) -> None:
        self._client.set(f"{self._prefix}:pow:{key}", b"1", ex=seconds)

    def take(self, key: str) -> bool:
        return self._client.delete(f"{self._prefix}:pow:{key}") == 1  # one taker only

    def count(self, key: str, add: int) -> int:
        name = f"{self._prefix}:pow-count:{key}"
        if add:
            pipe = self._client.pipeline()
            pipe.incrby(name, add)
            pipe.expire(name, 2 * 3600)
            return int(pipe.execute()[0])
        return int(self._client.get(name) or 0)


class ProofOfWork:
    def __init__(self, store: Any, base_bits: int, step: int) -> None:
        self.store = store
        self.base_bits = base_bits
        self.step = step

    @classmethod
    def for_storage(cls, storage_uri: str, prefix: str, base_bits: int, step: int):
        if storage_uri.startswith(("redis://", "rediss://")):
            import redis

            return cls(_RedisStore(redis.Redis.from_url(storage_uri), prefix), base_bits, step)
        return cls(_MemoryStore(), base_bits, step)

    def _hour(self) -> str:
        return datetime.now(UTC).strftime("%Y%m%d%H")

    def bits(self) -> int:
        """The difficulty now: one more bit each time this hour's reports double past a step."""
        try:
            count = self.store.count(self._hour(), 0)
        except Exception:
            count = 0
        if count < self.step:
            return self.base_bits
        return min(self.base_bits + 1 + int(math.log2(count / self.step)), 30)

    def issue(self) -> tuple[str, int]:
        """A new challenge and its difficulty, to put in the form."""
        bits = self.bits()
        challenge = f"{secrets.token_hex(16)}.{bits}"
        try:
            self.store.add(challenge, CHALLENGE_SECONDS)
        except Exception:
            return "", bits  # no store: the form works within the budget without script
        return challenge, bits

    def redeem(self, challenge: str, nonce: str) -> bool:
        """True once for a challenge we issued whose nonce solves it."""
        if not challenge or not nonce or len(nonce) > MAX_NONCE_LENGTH or len(challenge) > 64:
            return False
        token, _, bits_text = challenge.rpartition(".")
        if not token or not bits_text.isdigit() or not bits_text.isascii():
            return False
        if not solves(challenge, nonce, int(bits_text)):
            return False  # checked first: a wrong answer does not use up the challenge
        try:
            return self.store.take(challenge)
        except Exception:
            return False

    def counted(self) -> None:
        """Count one stored report towards this hour's difficulty."""
        with contextlib.suppress(Exception):  # the count only tunes the difficulty
            self.store.count(self._hour(), 1)
