"""Which discipline office a report goes to: decided here, on the server, from the unit and the
level of the person concerned. A form can name neither an office nor a reader.

The rules (reporting-handling rules, DESIGN "Domain"):

- staff and middle managers: the office of the unit itself, or of its nearest ancestor that
  has one;
- the unit's leaders: the office of the parent unit (or of the parent's nearest ancestor
  with one), never the unit's own office, which they lead;
- members of the unit's discipline office: the office above the one that covers the unit.
  For a unit with an office of its own that is its parent's office, as for leaders; for a
  unit without one (a workshop covered by its company's office) it is the office above the
  company's, since that office is the one its member sits in.

An office receives a report only if someone can read it there: its recovery key and at least
one active inspector with a key who is not excluded. Otherwise the report passes to the next
office up, and with none left, ChannelUnavailable: the view then says where else to turn
(for the leaders of the enterprise, the supervisory body outside it).

A reporter may keep out any inspector or head of an office (conflict of interest); who reads
a report is in recipients.py. Keeping out an inspector leaves the report with the others.
Keeping out every inspector of an office, or one of its heads, is a conflict with the office
itself (a head leads the inspectors and decides what is done with a report), so the report
goes to the office above, as a report about a member of the office does; with none above,
ExclusionsLeaveNoOffice. Exclusions are kept with the report when they name someone of the
office it lands in, of an office it passed on the way or of an office above (a case can be
transferred upward), so that nobody it was kept from is ever given it later. Ids that name
nobody there are ignored, not refused: refusing would tell a visitor who works where.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.models import DisciplineOffice, SubjectLevel, Unit
from app.services import units
from app.services.reports.errors import ChannelUnavailable, ExclusionsLeaveNoOffice
from app.services.reports.recipients import OfficeKeys, office_keys

_UP_FROM_PARENT = {SubjectLevel.unit_leader}
_UP_FROM_COVERING_OFFICE = {SubjectLevel.discipline_member}


@dataclass(frozen=True)
class Route:
    """Where a report goes and who reads it there."""

    office: DisciplineOffice
    keys: OfficeKeys
    # The exclusions that name inspectors or heads of this office or of a passed-over one.
    excluded: frozenset[int]
    passed_over: tuple[DisciplineOffice, ...] = ()  # offices that could not take it, nearest first


def _offices_from(start: Unit | None) -> list[DisciplineOffice]:
    chain = [] if start is None else [start, *start.ancestors()]
    return [unit.office for unit in chain if unit.office is not None]


def candidate_offices(unit: Unit, level: SubjectLevel) -> list[DisciplineOffice]:
    """The offices that may handle a report about ``unit`` at ``level``, in order of duty."""
    if level in _UP_FROM_PARENT:
        return _offices_from(unit.parent)
    if level in _UP_FROM_COVERING_OFFICE:
        covering = units.nearest_office(unit)
        return [] if covering is None else _offices_from(covering.unit.parent)
    return _offices_from(unit)


def route_report(
    session: Session, unit: Unit, level: SubjectLevel, excluded: Collection[int] = ()
) -> Route:
    """The office a report about ``unit`` at ``level`` goes to, with its readers' keys.

    Raises ChannelUnavailable when no office on the way up can read it, and its subclass
    ExclusionsLeaveNoOffice when one could but for the people the reporter keeps out.
    """
    wanted = frozenset(excluded)
    passed: list[DisciplineOffice] = []
    named: set[int] = set()
    could_without_exclusions = False
    candidates = candidate_offices(unit, SubjectLevel(level))
    for number, office in enumerate(candidates):
        keys = office_keys(session, office)
        applicable = keys.applicable(wanted)
        named.update(applicable)
        if keys.usable(applicable):
            # Those it names in the offices above are kept too: a case can be passed up.
            for above in candidates[number + 1 :]:
                named.update(office_keys(session, above).applicable(wanted))
            return Route(office, keys, frozenset(named), tuple(passed))
        could_without_exclusions = could_without_exclusions or keys.usable()
        passed.append(office)
    if could_without_exclusions:
        raise ExclusionsLeaveNoOffice("the people kept out leave no office to read this report")
    raise ChannelUnavailable("no discipline office can read this report")
