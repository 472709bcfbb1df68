"""The organisation's unit tree: lookups, sub-trees, ancestors, and the staff who cover a unit.

Every query about units goes through here, so the disclosure listings, the console's
choices and the routing of reports to a discipline office agree on what "below" and
"above" a unit mean.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Base
from app.models import DisciplineOffice, Report, StaffUser, Unit, UnitKind
from app.services.cases.deadlines import DONE as DONE_STATUSES
from app.services.names import clean_name


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


def for_staff(session: Session, staff: StaffUser, open_only: bool = False) -> list[Unit]:
    """The units a staff member works for, by code (``open_only``: not the closed ones)."""
    found = open_units(session) if open_only else all_units(session)
    return [unit for unit in found if staff_covers(staff, unit)]


# --- Changes of the tree (the administration pages) -------------------------------------------

# Unit codes: upper-case ASCII letters, digits, "-" and "_", as the demo's (no spaces: the
# code goes into addresses and onto printed notices). Compared without regard to case.
CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
MAX_NAME = 200


class UnitError(Exception):
    """A change of the unit tree was refused: ``message`` (translated) says why and what to do,
    ``field`` names the form field it concerns, ``cases`` the references of the open cases that
    stand in the way."""

    def __init__(self, message: object, field: str = "", cases: Sequence[str] = ()) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.cases = tuple(cases)


def normalise_code(text: str | None) -> str:
    """A unit code as stored (trimmed, upper case); UnitError for anything else."""
    code = (text or "").strip().upper()
    if not code:
        raise UnitError(_l("Enter a code."), "code")
    if not CODE_RE.fullmatch(code):
        raise UnitError(
            _l("A code has 1 to 32 letters A-Z, digits, - or _, with no spaces."), "code"
        )
    return code


def _name(text: str | None, field: str) -> str:
    name = clean_name(text)
    if not name:
        raise UnitError(_l("Enter a name."), field)
    if len(name) > MAX_NAME:
        raise UnitError(_l("A name has at most %(count)s characters.", count=MAX_NAME), field)
    return name


def code_taken(session: Session, code: str) -> bool:
    """Whether a unit has ``code`` already, in any case."""
    found = session.scalar(select(Unit.id).where(func.upper(Unit.code) == code.upper()).limit(1))
    return found is not None


def open_units(session: Session) -> list[Unit]:
    """Every unit that is not closed, by code: what new reports, disclosures and staff may
    name."""
    return list(session.scalars(select(Unit).where(Unit.closed_on.is_(None)).order_by(Unit.code)))


def _check_parent(unit: Unit | None, parent: Unit | None) -> None:
    if parent is None:
        return
    chain = [parent, *parent.ancestors()]
    if unit is not None and any(above.id == unit.id for above in chain):
        raise UnitError(
            _l("A unit cannot be moved under itself or under one of its own sub-units."),
            "parent",
        )
    if parent.closed:
        raise UnitError(_l("The unit above is closed: choose an open unit."), "parent")


def add_unit(
    session: Session,
    code: str,
    name_zh: str,
    name_en: str,
    kind: UnitKind | str,
    parent: Unit | None,
) -> Unit:
    """Add a unit under ``parent`` (None: at the top). UnitError for a code that is taken
    (in any case), an empty or overlong name, or a closed parent."""
    code = normalise_code(code)
    name_zh = _name(name_zh, "name_zh")
    name_en = _name(name_en, "name_en")
    try:
        kind = UnitKind(kind)
    except ValueError:
        raise UnitError(_l("Choose the kind of unit."), "kind") from None
    _lock_tree(session)  # a parent being closed at the same moment is seen closed
    _check_parent(None, parent)
    if code_taken(session, code):
        raise UnitError(_l("The code %(code)s is taken: choose another.", code=code), "code")
    # By the parent's id: a unit refused below must not stay among the parent's children.
    parent_id = parent.id if parent is not None else None
    unit = Unit(code=code, name_zh=name_zh, name_en=name_en, kind=kind, parent_id=parent_id)
    try:
        with session.begin_nested():  # of two requests for one code, the second is refused
            session.add(unit)
            session.flush()
    except IntegrityError:
        raise UnitError(
            _l("The code %(code)s is taken: choose another.", code=code), "code"
        ) from None
    if parent is not None:
        session.expire(parent, ["children"])
    return unit


def rename_unit(session: Session, unit: Unit, name_zh: str, name_en: str) -> None:
    """Give ``unit`` new names (its code stays: it is on printed notices and in addresses)."""
    unit.name_zh = _name(name_zh, "name_zh")
    unit.name_en = _name(name_en, "name_en")
    session.flush()


TREE_LOCK_ID = 0x756E_6974  # "unit": PostgreSQL's advisory lock of the tree's shape


def _lock_tree(session: Session) -> None:
    """Hold the tree's shape until the transaction ends, and read it anew: of two moves at the
    same moment (A under B, B under A) the second sees the first and is refused, instead of
    both passing their checks and leaving a loop. On SQLite a write that changes nothing takes
    the database's one writer. A unit's closing and the units put under it take the same lock,
    so that no open unit is left under a closed one."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": TREE_LOCK_ID})
    elif dialect == "sqlite":
        session.execute(
            update(Unit).where(false()).values(parent_id=Unit.parent_id),
            execution_options={"synchronize_session": False},
        )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Unit):
            session.expire(loaded, ["parent_id", "parent", "closed_on", "children"])


def move_unit(session: Session, unit: Unit, parent: Unit | None) -> None:
    """Put ``unit`` (and its sub-units) under ``parent`` (None: at the top). Only reports sent
    from now on are routed by the new place; cases received stay with their office."""
    _lock_tree(session)
    _check_parent(unit, parent)
    unit.parent = parent
    session.flush()


def open_cases(session: Session, unit: Unit) -> list[str]:
    """The references of the cases not yet concluded about ``unit`` or held by its office."""
    condition = Report.unit_id == unit.id
    if unit.office is not None:
        condition = or_(condition, Report.office_id == unit.office.id)
    ids = session.scalars(
        select(Report.id)
        .where(condition, Report.status.not_in(sorted(DONE_STATUSES)))
        .order_by(Report.id)
    )
    return [report_id[:8] for report_id in ids]


def _refuse_open_cases(session: Session, unit: Unit, message: object) -> None:
    cases = open_cases(session, unit)
    if cases:
        raise UnitError(message, "", cases)


def close_unit(session: Session, unit: Unit, on: date) -> None:
    """Close ``unit``: it keeps its history and is offered for nothing new. Refused while it
    has open cases (listed in the error) or sub-units that are open.

    The tree's lock and the unit's row (PostgreSQL: FOR UPDATE; SQLite: the one writer) are
    taken before the checks: a report about the unit sent at the same moment takes the row too
    (``app.services.reports.submission``), so either it is counted here or it finds the unit
    closed; a unit added under this one at the same moment is either seen here or refused."""
    _lock_tree(session)
    session.execute(select(Unit.id).where(Unit.id == unit.id).with_for_update())
    session.refresh(unit)
    if unit.closed:
        return
    _refuse_open_cases(
        session,
        unit,
        _l("The unit has open cases, so it cannot be closed yet: conclude or transfer them first."),
    )
    if any(not child.closed for child in unit.children):
        raise UnitError(_l("Close or move the unit's sub-units first."))
    unit.closed_on = on
    session.flush()


def reopen_unit(session: Session, unit: Unit) -> None:
    """Open a closed unit again (under an open unit)."""
    _lock_tree(session)
    if unit.parent is not None and unit.parent.closed:
        raise UnitError(_l("The unit above is closed: open it first or move this unit."))
    unit.closed_on = None
    session.flush()


def references(session: Session, unit: Unit) -> int:
    """How many rows refer to ``unit`` or its discipline office (any table, any column)."""
    targets = {"units": unit.id}
    if unit.office is not None:
        targets["discipline_offices"] = unit.office.id
    count = 0
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            target = fk.column.table.name
            if target not in targets:
                continue
            if table.name == "discipline_offices" and target == "units":
                continue  # the unit's own office goes with it
            count += (
                session.scalar(
                    select(func.count()).select_from(table).where(fk.parent == targets[target])
                )
                or 0
            )
    return count


def remove_unit(session: Session, unit: Unit) -> None:
    """Delete ``unit`` (and its office) if nothing refers to them: no report, case,
    disclosure, catalogue duty, staff account or sub-unit. Otherwise UnitError: close it."""
    _refuse_open_cases(
        session,
        unit,
        _l("The unit has open cases, so it cannot be removed: conclude or transfer them first."),
    )
    if references(session, unit):
        raise UnitError(
            _l(
                "Reports, disclosures, staff or sub-units refer to this unit, so it cannot be "
                "removed: close it instead (it keeps its history)."
            )
        )
    if unit.office is not None:
        session.delete(unit.office)
    session.delete(unit)
    session.flush()


def add_office(session: Session, unit: Unit, name_zh: str, name_en: str) -> DisciplineOffice:
    """Give ``unit`` a discipline office (its reports then go there, once it has a recovery key
    and an inspector with a key)."""
    if unit.office is not None:
        raise UnitError(_l("The unit has a discipline office already."))
    if unit.closed:
        raise UnitError(_l("The unit is closed: open it first."))
    office = DisciplineOffice(
        unit=unit, name_zh=_name(name_zh, "office_zh"), name_en=_name(name_en, "office_en")
    )
    session.add(office)
    session.flush()
    return office
