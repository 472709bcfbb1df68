"""Enrolment: an administrator issues a one-time code; the owner chooses the password.

``issue_code`` (``portal user add`` / ``portal user reset``) gives the account a code that opens
nothing but this enrolment: the account has no password, no second factor and no key until its
owner uses it. With the code the owner sees a new TOTP secret (:func:`start`), then chooses a
password and confirms one TOTP code (:func:`finish`): only then are the password record, the
confirmed secret, ten recovery codes and, for readers of reports, a new identity sealed under
the new password made, all in one transaction.

A reset removes the account's password, second factor, recovery codes, sessions and identity:
reports sent to the old identity need a colleague's grant or the office's recovery key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import StaffEnrolment, StaffUser
from app.services import keys, recovery_codes, staff
from crypto import SealParams, X25519Identity
from crypto.sealing import DEFAULT_SEAL_PARAMS

DEFAULT_ENROLMENT_HOURS = 72
_LABEL = "enrolment-code"


class EnrolmentRefused(Exception):
    """The username, the code, or its date is not right; deliberately says nothing about which."""


class TotpNotConfirmed(Exception):
    """The code typed to confirm the authenticator app is not its current one."""


@dataclass(frozen=True)
class IssuedCode:
    """A code as it is shown once to the administrator, and when it stops working."""

    username: str
    code: str
    expires_at: datetime
    reset: bool
    # What the reset did to the account's key (KeyChange.removed if it had one).
    key_change: keys.KeyChange = keys.KeyChange.none


def issue_code(
    session: Session,
    user: StaffUser,
    now: datetime,
    hours: int = DEFAULT_ENROLMENT_HOURS,
) -> IssuedCode:
    """Give ``user`` a new enrolment code valid for ``hours``; any earlier code stops working.

    An account that had a password is reset: its password, second factor, recovery codes,
    console sessions and identity are gone at once.
    """
    reset = staff.has_password(user) or keys.has_identity(user)
    change = keys.KeyChange.none
    if reset:
        user.password_hash = staff.NO_PASSWORD
        user.totp_secret = ""
        user.totp_last_step = 0  # a new secret: the old one's used steps mean nothing to it
        recovery_codes.remove_recovery_codes(session, user)
        staff.end_all_sessions(session, user)
        if keys.has_identity(user):
            keys.remove_identity(user)
            change = keys.KeyChange.removed
    code = recovery_codes.new_code(groups=5)
    session.execute(delete(StaffEnrolment).where(StaffEnrolment.staff_id == user.id))
    enrolment = StaffEnrolment(
        staff_id=user.id,
        code_hash=recovery_codes.code_hash(code, _LABEL),
        expires_at=now + timedelta(hours=hours),
        reset=reset,
    )
    session.add(enrolment)
    session.flush()
    return IssuedCode(user.username, code, enrolment.expires_at, reset, change)


def start(session: Session, username: str, code: str, now: datetime) -> StaffEnrolment:
    """Check the username and code; offer a new TOTP secret. EnrolmentRefused if wrong."""
    user = session.scalar(
        select(StaffUser).where(StaffUser.username == username.strip().lower()[:64])
    )
    enrolment = session.get(StaffEnrolment, user.id) if user is not None else None
    typed = recovery_codes.code_hash(code, _LABEL)
    stored = enrolment.code_hash if enrolment is not None else "0" * 64
    if (
        enrolment is None
        or not hmac.compare_digest(typed, stored)
        or now >= enrolment.expires_at
        or not enrolment.staff.active
    ):
        raise EnrolmentRefused
    enrolment.pending_totp_secret = staff.new_totp_secret()
    session.flush()
    return enrolment


def pending(session: Session, staff_id: int, code_hash: str, now: datetime) -> StaffEnrolment:
    """The enrolment that :func:`start` opened, if it still stands (same code, in time, active
    account); EnrolmentRefused if not."""
    enrolment = session.get(StaffEnrolment, staff_id)
    if (
        enrolment is None
        or not enrolment.pending_totp_secret
        or not hmac.compare_digest(enrolment.code_hash, code_hash)
        or now >= enrolment.expires_at
        or not enrolment.staff.active
    ):
        raise EnrolmentRefused
    return enrolment


@dataclass
class Enrolled:
    """A finished enrolment: the account, its unsealed identities (for the new session), the
    recovery codes to show once, and whether reports sent to an old key need a grant."""

    user: StaffUser
    identities: list[X25519Identity] = field(default_factory=list)
    recovery_codes: list[str] = field(default_factory=list)
    reset: bool = False

    def __repr__(self) -> str:
        return f"Enrolled({self.user.username!r})"


def finish(
    session: Session,
    enrolment: StaffEnrolment,
    password: str,
    totp_code: str,
    at: float | None = None,
    *,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
) -> Enrolled:
    """Set the chosen password and confirm the TOTP secret with one code; then make ten
    recovery codes and, for a reader of reports, the identity sealed under the password.

    WeakPassword (``app.services.staff``) or TotpNotConfirmed leave everything as it was.
    """
    user = enrolment.staff
    staff.check_password_strength(password, user.username)
    secret = enrolment.pending_totp_secret or ""
    if not secret or not staff.accept_totp(session, user, totp_code, at, secret=secret):
        raise TotpNotConfirmed
    user.totp_secret = secret
    derived = staff.store_password(user, password, seal_params)
    codes = recovery_codes.new_recovery_codes(session, user)
    identities = []
    if keys.needs_identity(user):
        keys.remove_identity(user)
        keys.give_identity(user, derived.seal_key)
        identities.append(keys.unseal_with_key(user, derived.seal_key))
    reset = enrolment.reset
    session.delete(enrolment)
    session.flush()
    return Enrolled(user, identities, codes, reset)


def code_hash(code: str) -> str:
    """The stored form of an enrolment code (what a browser's enrolment is tied to)."""
    return recovery_codes.code_hash(code, _LABEL)


def remove_expired(session: Session, now: datetime) -> int:
    """Delete enrolment codes that have expired; the accounts wait for a new one."""
    done = session.execute(delete(StaffEnrolment).where(StaffEnrolment.expires_at <= now))
    return done.rowcount
