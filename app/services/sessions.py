"""Console sessions on the server: a row per session, found by a hash of the browser's ticket.

The browser holds a ticket: a random session id and a random key (one cookie). The database
holds a hash of the id, the account, the times, and the account's identity wrapped under the key
(AEAD, bound to the id's hash): a copy of the table, the server's files or Redis opens nothing
and gives no cookie that works. Ending a session is deleting its row, which every process and
machine sees at the next request.

A session ends when it has been idle too long or is too old, whatever it does; the last-seen time
is written at most once per ``touch_every`` (the idle end is counted from that write, so it comes
at most that much early, never late).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.models import ConsoleSession, StaffUser
from crypto import CryptoError, X25519Identity
from crypto.sealing import unwrap_for_session, wrap_under_token

_ID_BYTES = 32
_KEY_BYTES = 32
_WRAPPED_BYTES = 12 + 32 + 16


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: idle, in all, and how often its last-seen time is written."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)
    touch_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Ticket:
    """What the browser holds: the session id and the key of its wrapped identities."""

    session_id: bytes
    key: bytes

    def __repr__(self) -> str:  # never the secret halves in a log line
        return f"Ticket({self.id_hash[:8]}...)"

    @classmethod
    def new(cls) -> Ticket:
        return cls(os.urandom(_ID_BYTES), os.urandom(_KEY_BYTES))

    def cookie_value(self) -> str:
        return base64.urlsafe_b64encode(self.session_id + self.key).decode("ascii").rstrip("=")

    @classmethod
    def from_cookie(cls, value: str | None) -> Ticket | None:
        """The ticket in a cookie; None for anything else (no cookie, a forged one)."""
        if not value or len(value) > 100:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _ID_BYTES + _KEY_BYTES:
            return None
        return cls(raw[:_ID_BYTES], raw[_ID_BYTES:])

    @property
    def id_hash(self) -> str:
        return session_id_hash(self.session_id)


def session_id_hash(session_id: bytes) -> str:
    """The stored name of a session: SHA-256 of its 256-bit random id."""
    return hashlib.sha256(b"soe-portal/console-session/v1\0" + session_id).hexdigest()


def _bound_to(id_hash: str) -> bytes:
    return id_hash.encode("ascii")


def open_session(
    session: Session,
    user: StaffUser,
    identities: list[X25519Identity],
    policy: SessionPolicy,
    now: datetime,
) -> Ticket:
    """A new session of ``user`` holding ``identities`` wrapped; returns the browser's ticket."""
    ticket = Ticket.new()
    wrapped = b"".join(
        wrap_under_token(identity, ticket.key, _bound_to(ticket.id_hash)) for identity in identities
    )
    session.add(
        ConsoleSession(
            id_hash=ticket.id_hash,
            staff_id=user.id,
            created_at=now,
            last_seen_at=now,
            idle_until=now + policy.idle,
            expires_at=now + policy.lifetime,
            wrapped_identity=wrapped or None,
        )
    )
    session.flush()
    return ticket


@dataclass(frozen=True)
class Found:
    """A live session: its row, and whether its last-seen time is due to be written."""

    row: ConsoleSession
    touch_due: bool


def find(session: Session, ticket: Ticket, policy: SessionPolicy, now: datetime) -> Found | None:
    """The live session of ``ticket`` with an active account; None if it has ended, expired
    (idle or too old) or never was. What has expired is left for :func:`end` or the cleaner."""
    row = session.get(ConsoleSession, ticket.id_hash)
    if row is None or now >= row.idle_until or now >= row.expires_at:
        return None
    if not row.staff.active:
        return None
    return Found(row, now - row.last_seen_at >= policy.touch_every)


def touch(session: Session, id_hash: str, policy: SessionPolicy, now: datetime) -> bool:
    """Write that the session was seen ``now`` (it stays alive ``policy.idle`` from now), once:
    of several processes doing it at the same time one writes. True if this call wrote."""
    done = session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.id_hash == id_hash,
            ConsoleSession.last_seen_at <= now - policy.touch_every,
            ConsoleSession.idle_until > now,
        )
        .values(last_seen_at=now, idle_until=now + policy.idle)
    )
    return done.rowcount == 1


def identities(row: ConsoleSession, ticket: Ticket) -> list[X25519Identity]:
    """The identities the session holds, opened with the browser's key; [] if none or if the
    key does not open them (another browser's, a row moved elsewhere)."""
    wrapped = row.wrapped_identity or b""
    found = []
    for start in range(0, len(wrapped), _WRAPPED_BYTES):
        try:
            found.append(
                unwrap_for_session(
                    wrapped[start : start + _WRAPPED_BYTES], ticket.key, _bound_to(row.id_hash)
                )
            )
        except CryptoError:
            return []
    return found


def end(session: Session, id_hash: str, user: StaffUser | None = None) -> bool:
    """End one session (of ``user``, when given: a staff member ends only their own)."""
    query = delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash)
    if user is not None:
        query = query.where(ConsoleSession.staff_id == user.id)
    return session.execute(query).rowcount == 1


def end_all(session: Session, user: StaffUser, keep: str | None = None) -> int:
    """End every session of ``user`` but ``keep`` (an id hash); returns how many ended."""
    query = delete(ConsoleSession).where(ConsoleSession.staff_id == user.id)
    if keep is not None:
        query = query.where(ConsoleSession.id_hash != keep)
    return session.execute(query).rowcount


def open_sessions(session: Session, user: StaffUser, now: datetime) -> list[ConsoleSession]:
    """The live sessions of ``user``, newest first."""
    return list(
        session.scalars(
            select(ConsoleSession)
            .where(
                ConsoleSession.staff_id == user.id,
                ConsoleSession.idle_until > now,
                ConsoleSession.expires_at > now,
            )
            .order_by(ConsoleSession.created_at.desc(), ConsoleSession.id_hash)
        )
    )


def remove_expired(session: Session, now: datetime) -> int:
    """Delete the rows of sessions that have ended by time; returns how many."""
    done = session.execute(
        delete(ConsoleSession).where(
            or_(ConsoleSession.idle_until <= now, ConsoleSession.expires_at <= now)
        )
    )
    return done.rowcount
