"""Reporters' follow-up sessions: a short idle time, kept in memory or in Redis, never in the
database, and never holding the receipt code.

At the start the reporter's identity (derived from the code) is wrapped under a fresh random
token (``crypto.sealing.wrap_for_session``). The browser keeps the token (a cookie); the
store keeps, under a hash of the token, the report id and the wrapped key. Without a live
cookie the store can open nothing, and once idle for ``idle_seconds`` the entry is gone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from crypto.errors import CryptoError
from crypto.keys import X25519Identity
from crypto.sealing import unwrap_for_session, wrap_for_session

DEFAULT_IDLE_SECONDS = 15 * 60
_TOKEN_BYTES = 32
_REPORT_ID = re.compile(rb"^[0-9a-f]{32}$")
_KEY_LABEL = b"soe-portal/followup-session/v1"


class SessionBackend(Protocol):
    def put(self, key: str, value: bytes, idle_seconds: int) -> None: ...
    def get_and_refresh(self, key: str, idle_seconds: int) -> bytes | None: ...
    def delete(self, key: str) -> None: ...


class MemoryBackend:
    """One process's entries in a dict, expiring on the monotonic clock.

    Bounded in count and in bytes: past either bound, what has expired goes first, then the
    entries nearest to expiry. Expired entries are also swept every few seconds.
    """

    SWEEP_SECONDS = 5.0

    def __init__(
        self, max_entries: int = 10_000, clock: Any = time.monotonic, max_bytes: int = 64 << 20
    ) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self._swept = clock()

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    def put(self, key: str, value: bytes, idle_seconds: int, evict: bool = True) -> bool:
        """Keep ``value``; when full, push out the entries nearest to expiry, or, with
        ``evict`` False, keep nothing and return False."""
        now = self._clock()
        with self._lock:
            self._drop(key)
            full = len(self._entries) >= self._max or self._bytes + len(value) > self._max_bytes
            if full or now - self._swept > self.SWEEP_SECONDS:
                for expired in [k for k, v in self._entries.items() if v[0] <= now]:
                    self._drop(expired)
                self._swept = now
            full = len(self._entries) >= self._max or self._bytes + len(value) > self._max_bytes
            if full and not evict:
                return False
            while self._entries and (
                len(self._entries) >= self._max or self._bytes + len(value) > self._max_bytes
            ):  # still full: the nearest to expiry goes
                self._drop(min(self._entries, key=lambda k: self._entries[k][0]))
            self._entries[key] = (now + idle_seconds, value)
            self._bytes += len(value)
        return True

    def pop(self, key: str) -> bytes | None:
        """Take an entry: the one caller that gets it is the only one."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            self._drop(key)
        return entry[1] if entry is not None and entry[0] > now else None

    def get_and_refresh(self, key: str, idle_seconds: int) -> bytes | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                self._drop(key)
                return None
            self._entries[key] = (now + idle_seconds, entry[1])
            return entry[1]

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._entries)


class RedisBackend:
    """Sessions shared by every worker: one key each, with EXPIRE as the idle time."""

    def __init__(self, client: Any, prefix: str = "portal:followup:") -> None:
        self._client = client
        self._prefix = prefix

    def put(self, key: str, value: bytes, idle_seconds: int, evict: bool = True) -> bool:
        self._client.set(self._prefix + key, value, ex=idle_seconds)
        return True

    def pop(self, key: str) -> bytes | None:
        return self._client.getdel(self._prefix + key)

    def get_and_refresh(self, key: str, idle_seconds: int) -> bytes | None:
        return self._client.getex(self._prefix + key, ex=idle_seconds)

    def delete(self, key: str) -> None:
        self._client.delete(self._prefix + key)


@dataclass(frozen=True)
class FollowupSession:
    report_id: str
    identity: X25519Identity


def _encode_token(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def _decode_token(text: str) -> bytes | None:
    if not isinstance(text, str) or len(text) != 43:
        return None
    try:
        token = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        return None
    return token if len(token) == _TOKEN_BYTES and _encode_token(token) == text else None


def _store_key(token: bytes) -> str:
    # The store never sees the token itself: whoever reads it cannot unwrap anything.
    return hashlib.sha256(_KEY_LABEL + token).hexdigest()


class FollowupSessions:
    """Start, resume and end reporters' follow-up sessions."""

    def __init__(
        self, backend: SessionBackend | None = None, idle_seconds: int = DEFAULT_IDLE_SECONDS
    ) -> None:
        if idle_seconds < 1:
            raise ValueError("the idle time must be at least a second")
        self.backend = backend if backend is not None else MemoryBackend()
        self.idle_seconds = idle_seconds

    @classmethod
    def from_url(cls, url: str, idle_seconds: int = DEFAULT_IDLE_SECONDS) -> FollowupSessions:
        """``memory://`` or a Redis URL (``redis://``, ``rediss://``, ``unix://``)."""
        if url.startswith("memory://"):
            return cls(MemoryBackend(), idle_seconds)
        import redis  # only when configured

        return cls(RedisBackend(redis.Redis.from_url(url)), idle_seconds)

    def start(self, report_id: str, identity: X25519Identity) -> str:
        """A new session for the report; returns the token for the browser (43 characters)."""
        if not _REPORT_ID.match(report_id.encode("ascii", "replace")):
            raise ValueError("not a report id")
        token, wrapped = wrap_for_session(identity)
        self.backend.put(_store_key(token), report_id.encode("ascii") + wrapped, self.idle_seconds)
        return _encode_token(token)

    def resume(self, token: str) -> FollowupSession | None:
        """The session of ``token``, its idle time started again; None if gone or forged."""
        raw = _decode_token(token)
        if raw is None:
            return None
        value = self.backend.get_and_refresh(_store_key(raw), self.idle_seconds)
        if value is None or not _REPORT_ID.match(value[:32]):
            return None
        try:
            identity = unwrap_for_session(value[32:], raw)
        except CryptoError:
            return None
        return FollowupSession(value[:32].decode("ascii"), identity)

    def end(self, token: str) -> None:
        """End the session now (the reporter left)."""
        raw = _decode_token(token)
        if raw is not None:
            self.backend.delete(_store_key(raw))
