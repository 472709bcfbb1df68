"""The organisation's unit tree: lookups, sub-trees, ancestors, and the staff who cover a unit.

Every query about units goes through here, so the disclosure listings, the console's
choices and the routing of reports to a discipline office agree on what "below" and
"above" a unit mean.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DisciplineOffice, StaffUser, Unit


def by_code(session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code))


def codes_to_ids(session: Session) -> dict[str, int]:
    return {code: id_ for id_, code in session.execute(select(Unit.id, Unit.code))}


def all_units(session: Session) -> list[Unit]:
    """Every unit, by code."""
    return list(session.scalars(select(Unit).order_by(Unit.code)))


def roots(session: Session) -> list[Unit]:
    """The units at the top of the tree (the enterprise), by code."""
    return list(session.scalars(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.code)))


def subtree_ids(session: Session, unit: Unit) -> list[int]:
    """The unit's id and those of every unit below it, one query per level."""
    ids = [unit.id]
    frontier = [unit.id]
    while frontier:
        children = list(session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier))))
        ids.extend(children)
        frontier = children
    return ids


def chain_ids(session: Session, code: str | None) -> list[int]:
    """The ids of the unit with ``code`` and of its ancestors; empty for an unknown code."""
    if not code:
        return []
    unit = by_code(session, code)
    if unit is None:
        return []
    return [unit.id, *(ancestor.id for ancestor in unit.ancestors())]


def nearest_office(unit: Unit) -> DisciplineOffice | None:
    """The discipline office of the unit itself or of its nearest ancestor that has one."""
    for candidate in (unit, *unit.ancestors()):
        if candidate.office is not None:
            return candidate.office
    return None


def office_by_unit_code(session: Session, code: str) -> DisciplineOffice | None:
    return session.scalar(select(DisciplineOffice).join(Unit).where(Unit.code == code))


def staff_covers(staff: StaffUser, unit: Unit) -> bool:
    """A staff member works for their own unit and everything below it (all, without a unit)."""
    if staff.unit_id is None:
        return True
    return unit.id == staff.unit_id or any(a.id == staff.unit_id for a in unit.ancestors())


def for_staff(session: Session, staff: StaffUser) -> list[Unit]:
    """The units a staff member works for, by code."""
    return [unit for unit in all_units(session) if staff_covers(staff, unit)]
