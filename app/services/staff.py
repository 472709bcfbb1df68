"""Staff accounts: creation, password + TOTP sign-in, passwords, roles, disabling.

A password is derived once (``crypto.passwords``: scrypt, then two labelled keys): the verifier
is stored, the other key seals the account's identity (``app.services.keys``). Only the owner
ever types it: administrators issue enrolment codes (``app.services.enrolment``). Accounts
that read reports get their key when their owner enrols or next signs in.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from app.models import DisciplineOffice, Role, StaffRole, StaffUser, Unit
from app.services import audit, keys, recovery_codes
from app.services.names import clean_name
from crypto import SealParams, X25519Identity, passwords
from crypto.errors import KeyFormatError, WorkFactorError
from crypto.passwords import PasswordKeys
from crypto.sealing import DEFAULT_SEAL_PARAMS

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 6
# The password of an account that has none yet (it enrols with a code): matches nothing.
NO_PASSWORD = "!"  # noqa: S105
# A bare address (the digest's sender and recipients): ASCII, one @, a dotted domain.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)
TOTP_STEP = 30
DISPLAY_NAME_MAX = 200
TOTP_DIGITS = 6
TOTP_CODE_RE = re.compile(rf"[0-9]{{{TOTP_DIGITS}}}")


class StaffError(Exception):
    """A staff account operation was refused; the message is for the operator, ``reason`` (one
    of the names below) for a page to say it in its own language."""

    username = "username"
    taken = "taken"
    unknown_role = "unknown_role"
    no_role = "no_role"
    needs_office = "needs_office"
    no_user = "no_user"
    no_unit = "no_unit"
    unit_closed = "unit_closed"
    no_office = "no_office"
    office_closed = "office_closed"
    bad_name = "bad_name"
    last_admin = "last_admin"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class LoginFailed(Exception):
    """Username, password or code is wrong; deliberately says nothing about which."""


class WeakPassword(StaffError):
    """A new password was refused; ``reason`` says why (for a translated message)."""

    too_short = "too_short"
    has_username = "has_username"
    too_simple = "too_simple"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CurrentPasswordWrong(StaffError):
    """The current password given to change it is not the account's."""


@dataclass(frozen=True)
class PasswordCheck:
    """A password matched: its keys (current form), or None for an older werkzeug hash."""

    keys: PasswordKeys | None


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


def accept_totp(
    session: Session,
    user: StaffUser,
    code: str,
    at: float | None = None,
    secret: str | None = None,
) -> bool:
    """Check ``code`` within one step of drift and refuse any step already used.

    ``secret``: the secret being enrolled, instead of the account's confirmed one.

    The step is claimed by one conditional update, so of two sign-ins with the same code at
    the same moment (two threads, processes or machines) exactly one succeeds.
    """
    code = code.strip().replace(" ", "")
    # ASCII only: str.isdigit() also takes other scripts' digits (Arabic-Indic, full-width).
    if not TOTP_CODE_RE.fullmatch(code):
        return False
    now = int(at if at is not None else time.time())
    totp = _totp(secret or user.totp_secret)
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


def check_password_strength(password: str, username: str = "") -> None:
    """Refuse a password that is short, one the account's name gives away, or one made of
    very few different characters (WeakPassword says which)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            WeakPassword.too_short,
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
        )
    if username and username.lower() in password.lower():
        raise WeakPassword(WeakPassword.has_username, "password must not contain the username")
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        raise WeakPassword(
            WeakPassword.too_simple,
            f"password must use at least {MIN_DISTINCT_CHARACTERS} different characters",
        )


def store_password(user: StaffUser, password: str, seal_params: SealParams) -> PasswordKeys:
    """Give ``user`` a record of ``password`` in the current form; returns its keys."""
    record, derived = passwords.new_record(password, seal_params)
    user.password_hash = record.dumps()
    return derived


def has_password(user: StaffUser) -> bool:
    return user.password_hash != NO_PASSWORD


def _open_password(
    user: StaffUser | None, password: str, seal_params: SealParams
) -> PasswordCheck | None:
    """Whether ``password`` is the account's: its keys (current form) or a mark that it matched
    an older werkzeug hash. None if it does not match; the same work for no account."""
    stored = user.password_hash if user is not None else NO_PASSWORD
    if passwords.is_record(stored):
        try:
            derived = passwords.check(passwords.PasswordRecord.loads(stored), password, seal_params)
        except (KeyFormatError, WorkFactorError):
            derived = None
        return PasswordCheck(derived) if derived is not None else None
    if stored.startswith(("scrypt:", "pbkdf2:")):
        return PasswordCheck(None) if check_password_hash(stored, password) else None
    passwords.check_nobody(password, seal_params)
    return None


def _checked_roles(roles: Iterable[Role | str], office: DisciplineOffice | None) -> set[Role]:
    try:
        role_set = {Role(r) for r in roles}
    except ValueError:
        raise StaffError(
            "unknown role; choose from " + ", ".join(r.value for r in Role), StaffError.unknown_role
        ) from None
    if not role_set:
        raise StaffError("give the user at least one role", StaffError.no_role)
    if Role.inspector in role_set and office is None:
        raise StaffError("an inspector belongs to a discipline office", StaffError.needs_office)
    if Role.office_head in role_set and office is None:
        raise StaffError("an office head belongs to a discipline office", StaffError.needs_office)
    return role_set


def username_taken(session: Session, username: str) -> bool:
    return session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None


def _display_name(text: str) -> str:
    """The cleaned display name (``clean_name``), "" if none was typed; StaffError if what was
    typed is no name (invisible characters only) or longer than the column holds."""
    name = clean_name(text)
    if (not name and (text or "").strip()) or len(name) > DISPLAY_NAME_MAX:
        raise StaffError(
            f"a display name is visible text of at most {DISPLAY_NAME_MAX} characters",
            StaffError.bad_name,
        )
    return name


def create_user(
    session: Session,
    username: str,
    display_name: str,
    password: str | None,
    roles: Iterable[Role | str],
    unit: Unit | None = None,
    office: DisciplineOffice | None = None,
    totp_secret: str | None = None,
    *,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
) -> StaffUser:
    """Add a staff account; usernames are lower-case and unique.

    Without a password (what an administrator does) the account has none and no second
    factor until its owner enrols with a code (``app.services.enrolment``). With one (the
    demo, whose passwords are published) inspectors and office heads get their identity at
    once, sealed under the key derived from it.
    """
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise StaffError(
            "username must start with a letter and use 2-64 of a-z, 0-9, '.', '_', '-'",
            StaffError.username,
        )
    if username_taken(session, username):
        raise StaffError(f"username {username!r} is taken", StaffError.taken)
    if password is not None:
        check_password_strength(password)  # the demo's published passwords name their user
    role_set = _checked_roles(roles, office)
    user = StaffUser(
        username=username,
        display_name=_display_name(display_name) or username,
        password_hash=NO_PASSWORD,
        totp_secret="",
        unit=unit,
        office=office,
        role_rows=[StaffRole(role=r) for r in sorted(role_set)],
    )
    if password is not None:
        user.totp_secret = totp_secret or new_totp_secret()
        derived = store_password(user, password, seal_params)
        if keys.needs_identity(user):
            keys.give_identity(user, derived.seal_key)
    try:
        with session.begin_nested():  # of two requests for one username, the second is refused
            session.add(user)
            session.flush()
    except IntegrityError:
        raise StaffError(f"username {username!r} is taken", StaffError.taken) from None
    return user


def change_password(
    session: Session,
    user: StaffUser,
    old_password: str,
    new_password: str,
    *,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
) -> keys.KeyChange:
    """The owner changes their password: the same identity, resealed under the new one.

    The account's other console sessions are for the caller to end (it knows which one is
    this). CurrentPasswordWrong if ``old_password`` is not the account's; WeakPassword.
    """
    opened = _open_password(user, old_password, seal_params)
    if opened is None:
        raise CurrentPasswordWrong("the current password is wrong")
    check_password_strength(new_password, user.username)
    identity = _identity_of(user, old_password, opened, seal_params)
    derived = store_password(user, new_password, seal_params)
    change = keys.KeyChange.none
    if identity is not None:
        keys.seal_under(user, identity, derived.seal_key)
        change = keys.KeyChange.kept
    elif keys.needs_identity(user) and not keys.has_identity(user):
        keys.give_identity(user, derived.seal_key)
        change = keys.KeyChange.created
    session.flush()
    return change


def _identity_of(
    user: StaffUser, password: str, opened: PasswordCheck, seal_params: SealParams
) -> X25519Identity | None:
    """The account's identity, opened by the password that just matched; None if it has none
    (or an older seal that this password does not open: it stays as it is)."""
    if not keys.has_identity(user):
        return None
    try:
        if opened.keys is not None:
            return keys.unseal_with_key(user, opened.keys.seal_key)
        return keys.unseal(user, password, seal_params)
    except keys.WrongPassword:
        return None


ADMINS_LOCK_ID = 0x6164_6D6E  # "admn": PostgreSQL's advisory lock of who administers


def _working_admins(session: Session) -> set[int]:
    """The ids of the active, enrolled administrators, read under a lock held until the
    transaction ends (PostgreSQL: an advisory lock; SQLite: a write that changes nothing takes
    the database's one writer): of two administrators who take each other's role or disable
    each other at the same moment, the second sees what the first did."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADMINS_LOCK_ID})
    elif dialect == "sqlite":
        session.execute(
            update(StaffUser).where(false()).values(active=StaffUser.active),
            execution_options={"synchronize_session": False},
        )
    return set(
        session.scalars(
            select(StaffUser.id)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(
                StaffRole.role == Role.admin,
                StaffUser.active.is_(True),
                StaffUser.password_hash != NO_PASSWORD,
            )
        )
    )


def _keep_an_admin(session: Session, user: StaffUser) -> None:
    """StaffError ``last_admin`` if ``user`` is the last active, enrolled administrator: a
    change that takes that from them would leave nobody to administer the portal."""
    admins = _working_admins(session)
    if admins == {user.id}:
        raise StaffError(
            f"{user.username} is the last active, enrolled administrator: give another account "
            "the admin role and let it enrol first",
            StaffError.last_admin,
        )


def set_roles(
    session: Session,
    user: StaffUser,
    roles: Iterable[Role | str],
    *,
    office: DisciplineOffice | None = None,
) -> keys.KeyChange:
    """Give the account exactly ``roles`` (and ``office``, when given); its sessions end.

    An account that now reads reports and has no identity gets one at its next sign-in, from
    its own password (``KeyChange.missing`` until then, shown by ``portal keys list``). An
    identity the account no longer needs is kept: it stays sealed, and taking the role back
    is enough to read again what was sent to it.
    """
    office = office if office is not None else user.office
    role_set = _checked_roles(roles, office)
    if Role.admin not in role_set:
        _keep_an_admin(session, user)
    user.office = office
    current = {row.role: row for row in user.role_rows}
    user.role_rows = [current.get(r) or StaffRole(role=r) for r in sorted(role_set)]
    change = keys.KeyChange.none
    if keys.needs_identity(user) and not keys.has_identity(user):
        change = keys.KeyChange.missing
    end_all_sessions(session, user)
    session.flush()
    return change


def by_username(session: Session, username: str) -> StaffUser:
    """The account called ``username``; StaffError if there is none."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise StaffError(f"no user {username!r}", StaffError.no_user)
    return user


def unit_for_staff(session: Session, code: str | None) -> Unit | None:
    """The unit a staff account is given by its code (None for none); StaffError for an
    unknown or closed unit (a closed unit takes no new staff)."""
    if not code:
        return None
    unit = session.scalar(select(Unit).where(func.upper(Unit.code) == code.strip().upper()))
    if unit is None:
        raise StaffError(f"no unit with code {code!r}", StaffError.no_unit)
    if unit.closed_on is not None:
        raise StaffError(f"the unit {unit.code} is closed", StaffError.unit_closed)
    return unit


def office_for_staff(session: Session, code: str | None) -> DisciplineOffice | None:
    """The discipline office at the unit with ``code`` (None for none); StaffError if that
    unit has none, or is closed."""
    if not code:
        return None
    office = session.scalar(
        select(DisciplineOffice).join(Unit).where(func.upper(Unit.code) == code.strip().upper())
    )
    if office is None:
        raise StaffError(f"unit {code!r} has no discipline office", StaffError.no_office)
    if office.unit.closed_on is not None:
        raise StaffError(f"the unit {office.unit.code} is closed", StaffError.office_closed)
    return office


@dataclass
class SignIn:
    """An accepted sign-in: the account and the identities its password unsealed (none for an
    account that reads no reports). The identities are for the caller's memory only."""

    user: StaffUser
    identities: list[X25519Identity] = field(default_factory=list)
    # A recovery code stood in for the TOTP code (and is now used up).
    used_recovery_code: bool = False

    def __repr__(self) -> str:
        return f"SignIn({self.user.username!r}, {len(self.identities)} identities)"


def authenticate(
    session: Session,
    username: str,
    password: str,
    code: str,
    at: float | None = None,
    *,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
) -> SignIn:
    """Check the password and the TOTP (or a recovery) code; LoginFailed for any mistake.

    One derivation of the password gives the verifier and the key that unseals the account's
    identity. An account still in an older form (a werkzeug hash, an identity sealed under the
    passphrase itself) is moved to the current form here, by the password that just matched.
    A reader of reports without an identity gets one now, sealed under its own password.
    """
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    opened = _open_password(user, password, seal_params)
    if user is None or not user.active or opened is None or not user.totp_secret:
        # The account if it exists; never the name typed for one that does not.
        audit.record(session, audit.AuditAction.sign_in_failed, actor=user)
        raise LoginFailed
    used_recovery_code = False
    if not accept_totp(session, user, code, at):
        if not recovery_codes.use_recovery_code(session, user, code):
            audit.record(session, audit.AuditAction.sign_in_failed, actor=user, detail="code")
            raise LoginFailed
        used_recovery_code = True
    identity = _identity_of(user, password, opened, seal_params)
    derived = opened.keys
    if derived is None:  # an older account: the current form from now on
        derived = store_password(user, password, seal_params)
        if identity is not None:
            keys.seal_under(user, identity, derived.seal_key)
    if identity is None and keys.needs_identity(user) and not keys.has_identity(user):
        keys.give_identity(user, derived.seal_key)
        identity = keys.unseal_with_key(user, derived.seal_key)
    session.flush()
    readable = [identity] if identity is not None and keys.needs_identity(user) else []
    detail = "with a recovery code" if used_recovery_code else ""
    audit.record(session, audit.AuditAction.sign_in, actor=user, detail=detail)
    if readable:
        audit.record(session, audit.AuditAction.unseal, actor=user, detail="at sign-in")
    return SignIn(user, readable, used_recovery_code)


def set_active(session: Session, username: str, active: bool) -> StaffUser:
    """Enable or disable an account; disabling ends its console sessions at once."""
    user = by_username(session, username)
    if not active:
        _keep_an_admin(session, user)
    user.active = active
    if not active:
        end_all_sessions(session, user)
    return user


def end_all_sessions(session: Session, user: StaffUser) -> int:
    """End every console session of ``user`` (each process sees the row gone)."""
    from app.services import sessions  # the sessions know accounts; accounts end sessions

    ended = sessions.end_all(session, user)
    if ended:
        audit.record(
            session,
            audit.AuditAction.session_end,
            actor=user,
            detail=f"{ended} ended by an administrator",
        )
    return ended


class InvalidEmail(StaffError):
    """Not an e-mail address the digest can be sent to."""


def normalise_email(text: str | None) -> str | None:
    """An address as stored (trimmed; the domain in lower case), None for none; InvalidEmail
    for anything but a bare ASCII address (no name, no second address, no line break)."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > 254 or not EMAIL_RE.match(text):
        raise InvalidEmail(f"{text[:60]!r} is not an e-mail address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def set_email(session: Session, user: StaffUser, text: str | None) -> bool:
    """Set (or clear, with nothing) where ``user``'s digest goes; whether it changed."""
    address = normalise_email(text)
    if address == user.email:
        return False
    user.email = address
    session.flush()
    return True


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
