"""Keys that reports are encrypted to: staff identities sealed under passwords, and who reads.

Every inspector and office head holds an X25519 identity. The database keeps its public key
(``age_recipient``) and the identity sealed under a key derived from the account's password
(``sealed_identity``; ``crypto.passwords``): never the unsealed key. A password the user changes
keeps the identity (it is resealed); an administrator's reset removes it (nobody else can open
it), the owner's enrolment makes a new one, and reports encrypted to the old one need a
colleague's grant or the office's recovery key.

Each discipline office also has a recovery identity (``app.services.recovery``). New reports
of an office are encrypted to its readers, its inspectors and heads, and that recovery key
(:func:`office_readers`); the reporter's name and contact to its heads and the recovery key
only. The rule itself, with what a reporter's exclusions do, is
``app.services.reports.recipients``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import DisciplineOffice, ReportReader, Role, StaffUser
from app.services.reports.recipients import office_keys
from crypto import (
    BadPassphrase,
    SealedIdentity,
    SealParams,
    X25519Identity,
    X25519Recipient,
    passwords,
    seal_identity_under_key,
    unseal_identity,
    unseal_identity_under_key,
)
from crypto.sealing import DEFAULT_SEAL_PARAMS

# Roles whose holders read reports, so reports must be encrypted to them.
KEY_ROLES = (Role.inspector, Role.office_head)


class KeysError(Exception):
    """A key operation was refused; the message is for the operator."""


class WrongPassword(KeysError):
    """The password does not open the account's sealed identity."""


class NoReaders(KeysError):
    """Nobody could read a report of this office: it must not be accepted for it."""


class KeyChange(enum.StrEnum):
    """What a password or role change did to the account's identity."""

    none = "none"  # the account neither has nor needs an identity
    kept = "kept"  # the same identity, sealed under the new password
    created = "created"  # the account's first identity
    replaced = "replaced"  # a new identity: reports sent to the old one need a grant
    missing = "missing"  # the account needs an identity and gets it at its next sign-in
    removed = "removed"  # an identity removed by a reset: its owner enrols anew


def reports_sealed_to(session: Session, user: StaffUser) -> int:
    """How many reports are encrypted to ``user``'s present key: after a reset of the account
    they open for it again only by a colleague's grant or the office's recovery key."""
    if not has_identity(user):
        return 0
    count = session.scalar(
        select(func.count()).select_from(ReportReader).where(ReportReader.staff_id == user.id)
    )
    return count or 0


def needs_identity(user: StaffUser) -> bool:
    """Whether ``user`` reads reports (inspector or office head) and so needs an identity."""
    return user.has_role(*KEY_ROLES)


def has_identity(user: StaffUser) -> bool:
    return user.sealed_identity is not None and user.age_recipient is not None


def give_identity(user: StaffUser, seal_key: bytes) -> X25519Recipient:
    """Make the account's identity, sealed under ``seal_key`` (derived from its owner's
    password, ``crypto.passwords``); returns its public key.

    Refuses an account that has one already: a reset removes it first (:func:`remove_identity`).
    """
    if user.sealed_identity is not None:
        raise KeysError(f"{user.username} has a key already")
    identity = X25519Identity.generate()
    seal_under(user, identity, seal_key)
    return identity.recipient


def seal_under(user: StaffUser, identity: X25519Identity, seal_key: bytes) -> None:
    """Keep ``identity`` as the account's, sealed under ``seal_key`` (a new or changed password,
    or an older seal moved to the current form)."""
    sealed = seal_identity_under_key(identity, seal_key)
    user.age_recipient = str(sealed.recipient)
    user.sealed_identity = sealed.dumps()


def remove_identity(user: StaffUser) -> None:
    user.age_recipient = None
    user.sealed_identity = None


def _sealed(user: StaffUser) -> SealedIdentity:
    if not has_identity(user):
        raise KeysError(f"{user.username} has no key")
    sealed = SealedIdentity.loads(user.sealed_identity or "")
    if str(sealed.recipient) != user.age_recipient:
        raise KeysError(f"the sealed key of {user.username} does not match its public key")
    return sealed


def unseal_with_key(user: StaffUser, seal_key: bytes) -> X25519Identity:
    """Open the account's identity with the key derived from its password; WrongPassword if
    it does not open. The result is for the caller's memory only."""
    try:
        return unseal_identity_under_key(_sealed(user), seal_key)
    except BadPassphrase:
        raise WrongPassword(f"the password does not open the key of {user.username}") from None


def unseal(
    user: StaffUser, password: str, seal_params: SealParams = DEFAULT_SEAL_PARAMS
) -> X25519Identity:
    """Open the account's identity with its password, in either form: sealed under the key
    derived from the password (with the account's password record), or, for an account not
    yet moved, under the passphrase itself. WrongPassword if it does not open.

    The result is for the caller's memory only (a console session wraps it at once).
    """
    sealed = _sealed(user)
    if sealed.under_key:
        derived = None
        if passwords.is_record(user.password_hash):
            record = passwords.PasswordRecord.loads(user.password_hash)
            derived = passwords.check(record, password, seal_params)
        if derived is None:
            raise WrongPassword(f"the password does not open the key of {user.username}")
        return unseal_with_key(user, derived.seal_key)
    try:
        return unseal_identity(sealed, password, seal_params)
    except BadPassphrase:
        raise WrongPassword(f"the password does not open the key of {user.username}") from None


@dataclass
class OfficeReaders:
    """Who can read new reports of an office, and who should but cannot yet."""

    office: DisciplineOffice
    # Active inspectors and office heads of the office with an identity, by username.
    readers: list[StaffUser] = field(default_factory=list)
    # Active accounts of the office that need an identity and have none (no password set).
    waiting: list[StaffUser] = field(default_factory=list)
    # Whether a report can land here now (a recovery key, an inspector with a key, no head
    # kept out); if not, reports go to the office above.
    takes_reports: bool = False

    @property
    def heads(self) -> list[StaffUser]:
        return [user for user in self.readers if user.has_role(Role.office_head)]

    @property
    def recovery(self) -> X25519Recipient | None:
        text = self.office.recovery_recipient
        return X25519Recipient.parse(text) if text else None

    def recipients(self) -> list[X25519Recipient]:
        """Every public key a new report of the office is encrypted to; NoReaders if none."""
        found = [X25519Recipient.parse(user.age_recipient or "") for user in self.readers]
        if self.recovery is not None:
            found.append(self.recovery)
        if not found:
            raise NoReaders(f"nobody holds a key of the office {self.office.unit.code}")
        return found


def office_readers(
    session: Session, office: DisciplineOffice, exclude: Collection[int] = ()
) -> OfficeReaders:
    """Who can read new reports of ``office``: its active inspectors and heads with a key,
    less the staff ids in ``exclude`` (kept out by the reporter), and its recovery key."""
    users = session.scalars(
        select(StaffUser)
        .where(StaffUser.office_id == office.id, StaffUser.active.is_(True))
        .order_by(StaffUser.username)
    )
    found = OfficeReaders(office)
    for user in users:
        if not needs_identity(user) or user.id in exclude:
            continue
        (found.readers if has_identity(user) else found.waiting).append(user)
    keys = office_keys(session, office)
    found.takes_reports = keys.usable(keys.applicable(exclude))
    return found


def keys_overview(session: Session) -> list[OfficeReaders]:
    """:func:`office_readers` of every office, by the code of its unit."""
    offices = session.scalars(select(DisciplineOffice).order_by(DisciplineOffice.id))
    overview = [office_readers(session, office) for office in offices]
    return sorted(overview, key=lambda item: item.office.unit.code)
