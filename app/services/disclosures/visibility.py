"""Who reads what: the reader of the public site and the SQL conditions for what they may see.

The workflow, the listings, the catalogue and search all filter through these, so a reader
never sees, nor counts, an item whose scope does not include them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from app.models import (
    Disclosure,
    PublicState,
    Scope,
)
from app.services import units


@dataclass(frozen=True)
class Reader:
    """Who is reading the public site: nobody in particular unless a trusted proxy says so."""

    name: str | None = None
    unit_code: str | None = None
    party_member: bool = False

    @property
    def identified(self) -> bool:
        return self.name is not None


ANONYMOUS = Reader()


def scope_clause(session: Session, reader: Reader, scope_col=None, unit_col=None) -> ColumnElement:
    """SQL condition: rows whose scope lets ``reader`` see them.

    Works on any table with a scope and a unit column (defaults: ``Disclosure``), so search
    and catalogue queries filter exactly as the index does.
    """
    scope_col = Disclosure.scope if scope_col is None else scope_col
    unit_col = Disclosure.unit_id if unit_col is None else unit_col
    conditions: list[ColumnElement] = [scope_col == Scope.everyone]
    chain = units.chain_ids(session, reader.unit_code)
    if chain:
        conditions.append(and_(scope_col == Scope.unit, unit_col.in_(chain)))
    if reader.party_member:
        conditions.append(scope_col == Scope.party)
    return or_(*conditions)


def visible_clause(session: Session, reader: Reader) -> ColumnElement:
    """SQL condition: disclosures on the public site that ``reader`` may see (incl. retracted)."""
    return and_(
        Disclosure.public_state.in_((PublicState.published, PublicState.retracted)),
        scope_clause(session, reader),
    )


def can_read(session: Session, reader: Reader, disclosure: Disclosure) -> bool:
    if disclosure.public_state == PublicState.unpublished:
        return False
    if disclosure.scope == Scope.everyone:
        return True
    if disclosure.scope == Scope.party:
        return reader.party_member
    return disclosure.unit_id in units.chain_ids(session, reader.unit_code)


def get_readable(session: Session, reader: Reader, disclosure_id: int) -> Disclosure | None:
    disclosure = session.get(Disclosure, disclosure_id)
    if disclosure is None or not can_read(session, reader, disclosure):
        return None
    return disclosure
