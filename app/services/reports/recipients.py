"""Who can read for a discipline office: its staff's public keys and its recovery key.

Read from the model columns only (``StaffUser.age_recipient``, ``DisciplineOffice.
recovery_recipient``). A key that does not parse counts as no key: a report is never
encrypted to something nobody can open.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DisciplineOffice, Role, StaffUser
from crypto.errors import CryptoError
from crypto.keys import X25519Recipient


def parse_key(text: str | None) -> X25519Recipient | None:
    """An ``age1...`` public key, or None for no key or one that does not parse."""
    if not text:
        return None
    try:
        return X25519Recipient.parse(text)
    except (CryptoError, ValueError):
        return None


@dataclass(frozen=True)
class OfficeKeys:
    """The keys of one office, as the database holds them now."""

    office_id: int
    # Every active inspector of the office, with a key or not: the ids a reporter may exclude.
    inspector_ids: frozenset[int]
    inspectors: Mapping[int, X25519Recipient]  # active inspectors with a key, by staff id
    heads: Mapping[int, X25519Recipient]  # active office heads with a key, by staff id
    recovery: X25519Recipient | None

    def applicable(self, excluded: Collection[int]) -> frozenset[int]:
        """The exclusions that name inspectors of this office; the others mean nothing here."""
        return self.inspector_ids.intersection(excluded)

    def readers(self, excluded: Collection[int] = ()) -> dict[int, X25519Recipient]:
        """The inspectors a report's text goes to, by staff id."""
        return {i: key for i, key in self.inspectors.items() if i not in excluded}

    def identity_readers(self, excluded: Collection[int] = ()) -> dict[int, X25519Recipient]:
        """The office heads a reporter's real name goes to (an excluded head gets nothing)."""
        return {i: key for i, key in self.heads.items() if i not in excluded}

    def usable(self, excluded: Collection[int] = ()) -> bool:
        """Can a report go here: a recovery key and at least one inspector left to read it."""
        return self.recovery is not None and bool(self.readers(excluded))


def office_keys(session: Session, office: DisciplineOffice | int) -> OfficeKeys:
    """The keys of ``office``: its active inspectors and heads, and its recovery key."""
    office_id = office if isinstance(office, int) else office.id
    row = session.get(DisciplineOffice, office_id)
    if row is None:
        raise LookupError(f"no discipline office {office_id}")
    staff = session.scalars(
        select(StaffUser)
        .where(StaffUser.office_id == office_id, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    )
    inspector_ids: set[int] = set()
    inspectors: dict[int, X25519Recipient] = {}
    heads: dict[int, X25519Recipient] = {}
    for user in staff:
        key = parse_key(user.age_recipient)
        if user.has_role(Role.inspector):
            inspector_ids.add(user.id)
            if key is not None:
                inspectors[user.id] = key
        if user.has_role(Role.office_head) and key is not None:
            heads[user.id] = key
    return OfficeKeys(
        office_id, frozenset(inspector_ids), inspectors, heads, parse_key(row.recovery_recipient)
    )
