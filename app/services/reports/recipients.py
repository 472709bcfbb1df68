"""Who can read for a discipline office: its staff's public keys and its recovery key.

The head of an office reads every report of it, as its inspectors do: a report's text and
files and its thread are encrypted to the office's inspectors and heads (less those the
reporter keeps out) and its recovery key; the reporter's name and contact, if given, to the
heads and the recovery key only. A reporter may keep out any inspector or head. Keeping out a
head is a conflict with the office's leadership: that office takes no report then, and it goes
to the office above (routing.py), as a report about a member of the office does.

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
    # Every active inspector and head of the office, with a key or not: the ids a reporter
    # may keep out.
    inspector_ids: frozenset[int]
    head_ids: frozenset[int]
    inspectors: Mapping[int, X25519Recipient]  # active inspectors with a key, by staff id
    heads: Mapping[int, X25519Recipient]  # active office heads with a key, by staff id
    recovery: X25519Recipient | None

    def applicable(self, excluded: Collection[int]) -> frozenset[int]:
        """The exclusions that name inspectors or heads of this office; others mean nothing."""
        return (self.inspector_ids | self.head_ids).intersection(excluded)

    def readers(self, excluded: Collection[int] = ()) -> dict[int, X25519Recipient]:
        """The inspectors and heads a report's text, files and messages go to, by staff id."""
        found = {i: key for i, key in self.inspectors.items() if i not in excluded}
        found.update({i: key for i, key in self.heads.items() if i not in excluded})
        return found

    def identity_readers(self, excluded: Collection[int] = ()) -> dict[int, X25519Recipient]:
        """The office heads a reporter's real name goes to (an excluded head gets nothing)."""
        return {i: key for i, key in self.heads.items() if i not in excluded}

    def usable(self, excluded: Collection[int] = ()) -> bool:
        """Can a report go here: a recovery key, no head kept out, and at least one inspector
        with a key left to read it."""
        if self.recovery is None or self.head_ids.intersection(excluded):
            return False
        return any(i not in excluded for i in self.inspectors)


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
    head_ids: set[int] = set()
    inspectors: dict[int, X25519Recipient] = {}
    heads: dict[int, X25519Recipient] = {}
    for user in staff:
        key = parse_key(user.age_recipient)
        for role, ids, keys in (
            (Role.inspector, inspector_ids, inspectors),
            (Role.office_head, head_ids, heads),
        ):
            if user.has_role(role):
                ids.add(user.id)
                if key is not None:
                    keys[user.id] = key
    return OfficeKeys(
        office_id,
        frozenset(inspector_ids),
        frozenset(head_ids),
        inspectors,
        heads,
        parse_key(row.recovery_recipient),
    )
