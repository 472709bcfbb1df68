"""Staff accounts: creation, password + TOTP sign-in, passwords, roles, disabling.

Accounts that read reports get their key here too (``app.services.keys``): when they get
the role, when their password is set, or when an administrator resets it.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Iterable

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import DisciplineOffice, Role, StaffRole, StaffUser, Unit
from app.services import keys
from crypto import SealParams
from crypto.sealing import DEFAULT_SEAL_PARAMS

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_CODE_RE = re.compile(rf"[0-9]{{{TOTP_DIGITS}}}")
# werkzeug's scrypt (N=2^15, r=8, p=1); tests pass cheaper parameters explicitly.
PASSWORD_METHOD = "scrypt:32768:8:1"  # noqa: S105 (a hashing method, not a password)
# A hash to check against when the user does not exist, so both failures take as long.
_DUMMY_HASH = generate_password_hash("not a password of anybody")


class StaffError(Exception):
    """A staff account operation was refused; the message is for the operator."""


class LoginFailed(Exception):
    """Username, password or code is wrong; deliberately says nothing about which."""


def new_totp_secret() -> str:
    """A fresh 160-bit TOTP secret in base32, as authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _totp(secret: str) -> TOTP:
    # SHA-1 is the RFC 6238 default that every authenticator app supports.
    algorithm = SHA1()  # noqa: S303
    return TOTP(
        base64.b32decode(secret), TOTP_DIGITS, algorithm, TOTP_STEP, enforce_key_length=False
    )


def totp_now(secret: str, at: float | None = None) -> str:
    """The current code for ``secret`` (demo output and tests)."""
    return _totp(secret).generate(int(at if at is not None else time.time())).decode("ascii")


def accept_totp(session: Session, user: StaffUser, code: str, at: float | None = None) -> bool:
    """Check ``code`` within one step of drift and refuse any step already used.

    The step is claimed by one conditional update, so of two sign-ins with the same code at
    the same moment (two threads, processes or machines) exactly one succeeds.
    """
    code = code.strip().replace(" ", "")
    # ASCII only: str.isdigit() also takes other scripts' digits (Arabic-Indic, full-width).
    if not TOTP_CODE_RE.fullmatch(code):
        return False
    now = int(at if at is not None else time.time())
    totp = _totp(user.totp_secret)
    for drift in (0, -1, 1):
        step = now // TOTP_STEP + drift
        if step <= user.totp_last_step:
            continue
        try:
            totp.verify(code.encode("ascii"), step * TOTP_STEP)
        except InvalidToken:
            continue
        claimed = session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.totp_last_step < step)
            .values(totp_last_step=step)
        )
        return claimed.rowcount == 1
    return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def _checked_roles(roles: Iterable[Role | str], office: DisciplineOffice | None) -> set[Role]:
    try:
        role_set = {Role(r) for r in roles}
    except ValueError:
        raise StaffError("unknown role; choose from " + ", ".join(r.value for r in Role)) from None
    if not role_set:
        raise StaffError("give the user at least one role")
    if Role.inspector in role_set and office is None:
        raise StaffError("an inspector belongs to a discipline office")
    if Role.office_head in role_set and office is None:
        raise StaffError("an office head belongs to a discipline office")
    return role_set


def create_user(
    session: Session,
    username: str,
    display_name: str,
    password: str,
    roles: Iterable[Role | str],
    unit: Unit | None = None,
    office: DisciplineOffice | None = None,
    totp_secret: str | None = None,
    password_method: str = PASSWORD_METHOD,
    *,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
) -> StaffUser:
    """Add a staff account; usernames are lower-case and unique.

    Inspectors and office heads get their identity at once, sealed under ``password``.
    """
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise StaffError(
            "username must start with a letter and use 2-64 of a-z, 0-9, '.', '_', '-'"
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise StaffError(f"username {username!r} is taken")
    check_password_strength(password)
    role_set = _checked_roles(roles, office)
    user = StaffUser(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=generate_password_hash(password, method=password_method),
        totp_secret=totp_secret or new_totp_secret(),
        unit=unit,
        office=office,
        role_rows=[StaffRole(role=r) for r in sorted(role_set)],
    )
    if keys.needs_identity(user):
        keys.give_identity(user, password, seal_params)
    session.add(user)
    session.flush()
    return user


def set_password(
    session: Session,
    user: StaffUser,
    new_password: str,
    *,
    by_admin: bool,
    old_password: str | None = None,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
    password_method: str = PASSWORD_METHOD,
) -> keys.KeyChange:
    """Set the account's password; returns what happened to its identity.

    The owner (``by_admin=False``) gives the old password, and keeps the same identity,
    resealed. An administrator's reset cannot open the old seal: an account that reads
    reports gets a new identity (``KeyChange.replaced``), and reports encrypted to the old
    one need a colleague's grant or the office's recovery key.
    """
    check_password_strength(new_password)
    if by_admin:
        if keys.needs_identity(user):
            had_one = keys.has_identity(user)
            keys.replace_identity(user, new_password, seal_params)
            change = keys.KeyChange.replaced if had_one else keys.KeyChange.created
        elif keys.has_identity(user):
            keys.remove_identity(user)  # sealed under a password nobody will give again
            change = keys.KeyChange.removed
        else:
            change = keys.KeyChange.none
    else:
        if old_password is None or not check_password_hash(user.password_hash, old_password):
            raise StaffError("the current password is wrong")
        if keys.has_identity(user):
            try:
                keys.reseal(user, old_password, new_password, seal_params)
            except keys.WrongPassword:
                raise StaffError(
                    "the current password does not open your key; ask an administrator"
                ) from None
            change = keys.KeyChange.kept
        elif keys.needs_identity(user):
            keys.give_identity(user, new_password, seal_params)
            change = keys.KeyChange.created
        else:
            change = keys.KeyChange.none
    user.password_hash = generate_password_hash(new_password, method=password_method)
    session.flush()
    return change


def set_roles(
    session: Session,
    user: StaffUser,
    roles: Iterable[Role | str],
    password: str | None = None,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
    *,
    office: DisciplineOffice | None = None,
) -> keys.KeyChange:
    """Give the account exactly ``roles`` (and ``office``, when given).

    An account that now reads reports and has no identity gets one sealed under
    ``password``, which must be its current password. Without a password it stays without
    a key (``KeyChange.missing``, shown by ``portal keys list``) until a password is set. An
    identity the account no longer needs is kept: it stays sealed, and taking the role
    back is enough to read again what was sent to it.
    """
    office = office if office is not None else user.office
    role_set = _checked_roles(roles, office)
    if password is not None and not check_password_hash(user.password_hash, password):
        raise StaffError(
            f"that is not the password of {user.username}; leave the password out "
            f"and reset it with: portal user password {user.username}"
        )
    user.office = office
    current = {row.role: row for row in user.role_rows}
    user.role_rows = [current.get(r) or StaffRole(role=r) for r in sorted(role_set)]
    change = keys.KeyChange.none
    if keys.needs_identity(user) and not keys.has_identity(user):
        if password is None:
            change = keys.KeyChange.missing
        else:
            keys.give_identity(user, password, seal_params)
            change = keys.KeyChange.created
    session.flush()
    return change


def by_username(session: Session, username: str) -> StaffUser:
    """The account called ``username``; StaffError if there is none."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise StaffError(f"no user {username!r}")
    return user


def authenticate(
    session: Session, username: str, password: str, code: str, at: float | None = None
) -> StaffUser:
    """Return the active user whose password and TOTP code both match, else LoginFailed."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not user.active or not password_ok:
        raise LoginFailed
    if not accept_totp(session, user, code, at):
        raise LoginFailed
    return user


def set_active(session: Session, username: str, active: bool) -> StaffUser:
    user = by_username(session, username)
    user.active = active
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
