"""Reporters' follow-up sessions: a short idle time and a longer lifetime, kept in memory or in
Redis, never in the database, and never holding the receipt code.

At the start the report id and the reporter's identity (derived from the code) are sealed
under a fresh random token that only the browser keeps (a cookie), in the short-lived store
(``app.services.ephemeral.SealedValues``): the store holds neither the token nor, in the
clear, the report or the key. Without a live cookie the store can open nothing; once idle for
``idle_seconds`` the entry is gone, and ``lifetime_seconds`` after its start a session ends
however busy it is (a cookie left in a shared PC's browser opens nothing for long).

Leaving ends every session of the report, not only this browser's: the reporter who left on
one device may have forgotten another. So each session also names the report's *generation*:
a random value filed under an HMAC of the reporter's key (which the store never holds) and the
clock bucket of ``lifetime_seconds`` the session began in. Leaving deletes the generations of
this bucket and the last one; a session whose generation is gone or replaced opens nothing.
What a reader of the store finds of this: a random value under a name that opens nothing and
changes with each bucket, expiring at the end of the next bucket (``expiry_after``). The
session's own end is kept sealed with it, to the minute.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.services.ephemeral import MemoryStore, SealedValues, Store
from crypto.keys import X25519Identity

DEFAULT_IDLE_SECONDS = 15 * 60
DEFAULT_LIFETIME_SECONDS = 2 * 60 * 60
_REPORT_ID = re.compile(rb"^[0-9a-f]{32}$")
_LABEL = b"soe-portal/followup-session/v3"
_GENERATION_BYTES = 16
# report id (32 ASCII), identity (32), generation (16), end (8: Unix time), bucket (8)
_VALUE = struct.Struct(">32s32s16sQQ")


class SessionNotKept(RuntimeError):
    """The store did not keep a new session (Redis out of memory): none was started."""


@dataclass(frozen=True)
class FollowupSession:
    report_id: str
    identity: X25519Identity


class FollowupSessions:
    """Start, resume and end reporters' follow-up sessions."""

    def __init__(
        self,
        store: Store | None = None,
        idle_seconds: int = DEFAULT_IDLE_SECONDS,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        if idle_seconds < 1 or lifetime_seconds < 1:
            raise ValueError("the idle time and the lifetime must be at least a second")
        self.store = store if store is not None else MemoryStore()
        self._sealed = SealedValues(self.store, _LABEL)
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds
        self._now = now

    def _generation_name(self, identity: X25519Identity, bucket: int) -> str:
        message = _LABEL + b"\x00generation\x00" + str(bucket).encode("ascii")
        return hmac.new(identity.secret_bytes, message, hashlib.sha256).hexdigest()

    def start(self, report_id: str, identity: X25519Identity) -> str:
        """A new session for the report; returns the token for the browser (43 characters).
        Raises SessionNotKept if the store does not keep it."""
        if not _REPORT_ID.match(report_id.encode("ascii", "replace")):
            raise ValueError("not a report id")
        now = self._now()
        bucket = int(now // self.lifetime_seconds)
        # The first session of the bucket makes the generation; the others join it. It lives
        # to the end of the next bucket: past the end of every session begun in this one.
        generation = self.store.put_new(
            self._generation_name(identity, bucket),
            os.urandom(_GENERATION_BYTES),
            self.lifetime_seconds,
        )
        ends = (int(now) // 60 + 1) * 60 + self.lifetime_seconds  # to the minute
        if generation is None or len(generation) != _GENERATION_BYTES:
            raise SessionNotKept("the follow-up session store refused a session")
        value = _VALUE.pack(
            report_id.encode("ascii"), identity.secret_bytes, generation, ends, bucket
        )
        token = self._sealed.put(value, self.idle_seconds)
        if token is None:  # a value past the store's whole bound, or Redis out of memory
            raise SessionNotKept("the follow-up session store refused a session")
        return token

    def _open(self, value: bytes | None) -> tuple[str, X25519Identity, bytes, int, int] | None:
        if value is None or len(value) != _VALUE.size:
            return None
        report_id, secret, generation, ends, bucket = _VALUE.unpack(value)
        if not _REPORT_ID.match(report_id):
            return None
        return report_id.decode("ascii"), X25519Identity(secret), generation, ends, bucket

    def resume(self, token: str) -> FollowupSession | None:
        """The session of ``token``, its idle time started again; None if gone, forged, past
        its lifetime, or ended by a "leave" on any browser."""
        opened = self._open(self._sealed.get(token, refresh_seconds=self.idle_seconds))
        if opened is None:
            return None
        report_id, identity, generation, ends, bucket = opened
        current = self.store.get(self._generation_name(identity, bucket))
        if self._now() >= ends or current is None or not hmac.compare_digest(current, generation):
            self._sealed.delete(token)
            return None
        return FollowupSession(report_id, identity)

    def end(self, token: str) -> None:
        """End this session now, and every other session of its report (the reporter left)."""
        opened = self._open(self._sealed.get(token))
        self._sealed.delete(token)
        if opened is None:
            return
        identity = opened[1]
        bucket = int(self._now() // self.lifetime_seconds)
        # A live session began less than a lifetime ago: in this bucket or the one before.
        for began in (bucket - 1, bucket):
            self.store.delete(self._generation_name(identity, began))
