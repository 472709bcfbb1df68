"""Reporters' follow-up sessions: a short idle time, kept in memory or in Redis, never in the
database, and never holding the receipt code.

At the start the report id and the reporter's identity (derived from the code) are sealed
under a fresh random token that only the browser keeps (a cookie), in the short-lived store
(``app.services.ephemeral.SealedValues``): the store holds neither the token nor, in the
clear, the report or the key. Without a live cookie the store can open nothing, and once
idle for ``idle_seconds`` the entry is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.services.ephemeral import MemoryStore, SealedValues, Store
from crypto.keys import X25519Identity

DEFAULT_IDLE_SECONDS = 15 * 60
_REPORT_ID = re.compile(rb"^[0-9a-f]{32}$")
_LABEL = b"soe-portal/followup-session/v2"


@dataclass(frozen=True)
class FollowupSession:
    report_id: str
    identity: X25519Identity


class FollowupSessions:
    """Start, resume and end reporters' follow-up sessions."""

    def __init__(
        self, store: Store | None = None, idle_seconds: int = DEFAULT_IDLE_SECONDS
    ) -> None:
        if idle_seconds < 1:
            raise ValueError("the idle time must be at least a second")
        self.store = store if store is not None else MemoryStore()
        self._sealed = SealedValues(self.store, _LABEL)
        self.idle_seconds = idle_seconds

    def start(self, report_id: str, identity: X25519Identity) -> str:
        """A new session for the report; returns the token for the browser (43 characters)."""
        if not _REPORT_ID.match(report_id.encode("ascii", "replace")):
            raise ValueError("not a report id")
        token = self._sealed.put(
            report_id.encode("ascii") + identity.secret_bytes, self.idle_seconds
        )
        if token is None:  # only a value past the store's whole bound is refused
            raise RuntimeError("the follow-up session store refused a session")
        return token

    def resume(self, token: str) -> FollowupSession | None:
        """The session of ``token``, its idle time started again; None if gone or forged."""
        value = self._sealed.get(token, refresh_seconds=self.idle_seconds)
        if value is None or len(value) != 64 or not _REPORT_ID.match(value[:32]):
            return None
        return FollowupSession(value[:32].decode("ascii"), X25519Identity(value[32:]))

    def end(self, token: str) -> None:
        """End the session now (the reporter left)."""
        self._sealed.delete(token)
