"""Public statistics of tip handling: counts per quarter, by kind, category, subsidiary and
disposal, and the share of reports acknowledged and answered in time.

Everything here is shown to anyone, so the figures are built to identify no one:

- Coarse: a figure is never finer than one calendar quarter of receipt (``received_on``) and
  one of kind, category, subsidiary or disposal at a time; there is no cross-tabulation.
  Every unit is rolled up to its subsidiary: the unit right below the top of the tree when
  that unit is a subsidiary, otherwise the top unit (the group) itself. Second-level
  subsidiaries, departments and workshops never appear.
- Quarters that have ended: a quarter's reports count from the day after it ends, so the
  number received never changes from one day to the next (watching the page every day does
  not tell on which day a report came). Of those reports, only what is dated before
  ``today`` counts (office messages written, cases concluded, disposals recorded before
  today): the figures change once a day, at midnight, never during a day, and every
  process shows the same figures all day.
- Small cells: a count from 1 to 4 is shown as ``SMALL`` ("<5"); 0 is shown as 0.
- Complementary suppression: in each row whose cells add up to a total that is shown (the
  quarter's reports received split into in handling and concluded, or by kind, category or
  subsidiary; the quarter's disposals split five ways), a single hidden cell could be
  recovered by subtracting the others from the total. So when exactly one cell of a row is
  hidden, the smallest other non-zero cell is hidden too. (If there is no other non-zero
  cell, the hidden cell equals the total, which is then below 5 and hidden itself.) No
  column totals (over all quarters) are shown, so columns need no such care.
- Shares (acknowledged within 7 days, answered within 3 months) are given as whole
  percentages only where the denominator is at least ``MIN_DENOMINATOR``; otherwise None.

Definitions (also stated on the page):

- acknowledged within 7 days: the office's first message to the reporter is dated on or
  before the report's ``acknowledge_by`` date (7 days after receipt, moved to the next
  working day). Counted among reports whose ``acknowledge_by`` date has passed or that were
  acknowledged in time; a report still inside its 7 days and not yet acknowledged does not
  count either way.
- answered within 3 months: the case was concluded (misconduct) or answered (criticism and
  suggestion) on or before the report's ``feedback_by`` date (3 months after receipt, moved
  to the next working day); counted the same way among reports whose outcome is known.
- concluded: the case's ``concluded_on`` is before today; in handling: every other report.

The computation has two stages: ``_live_rows`` reads one ``StatRow`` per report from the live
tables, and ``tabulate`` counts any iterable of rows. Reports purged under the retention rules
(app/services/reports/retention.py) keep a statistics row of the same shape (quarter, kind,
category, subsidiary, outcomes, disposal, never an id or a day), written from ``row_of_report``
when they are purged; ``compute`` adds them (``_purged_rows``) before tabulation, and they are
counted exactly like live reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    Case,
    CaseDecision,
    DecisionState,
    Disposal,
    MessageAuthor,
    PurgedReportStat,
    Report,
    ReportCategory,
    ReportKind,
    ReportMessage,
    Unit,
    UnitKind,
)
from app.services.reports import categories as report_categories

SMALL = "<5"
SMALL_LIMIT = 5  # counts from 1 to SMALL_LIMIT - 1 are hidden
MIN_DENOMINATOR = 5

Shown = int | str  # a count, or SMALL


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)


@dataclass(frozen=True)
class StatRow:
    """What the statistics keep of one report: nothing finer than a quarter, no id."""

    quarter: Quarter
    kind: str
    category: str
    subsidiary_id: int
    concluded: bool
    acknowledged_in_time: bool | None  # None: not known yet
    answered_in_time: bool | None
    disposal: str | None


@dataclass(frozen=True)
class Share:
    percent: int | None  # None: the denominator is below MIN_DENOMINATOR


@dataclass(frozen=True)
class QuarterRow:
    quarter: Quarter
    received: Shown
    in_handling: Shown
    concluded: Shown
    acknowledged: Share
    answered: Share


@dataclass(frozen=True)
class TableRow:
    quarter: Quarter
    total: Shown
    cells: list[Shown]


@dataclass(frozen=True)
class Table:
    """Counts per quarter (rows) and value (columns); ``columns`` are enum values or unit ids."""

    columns: list
    rows: list[TableRow]


@dataclass(frozen=True)
class Subsidiary:
    id: int
    code: str
    name_zh: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


@dataclass
class Stats:
    as_of: date  # the last day counted
    quarters: list[QuarterRow] = field(default_factory=list)
    kinds: Table = field(default_factory=lambda: Table([], []))
    categories: Table = field(default_factory=lambda: Table([], []))
    subsidiaries: Table = field(default_factory=lambda: Table([], []))
    disposals: Table = field(default_factory=lambda: Table([], []))
    subsidiary_names: dict[int, Subsidiary] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.quarters


def show(count: int) -> Shown:
    """A count as it may be shown: 1 to 4 become SMALL."""
    return SMALL if 0 < count < SMALL_LIMIT else count


def suppress_row(counts: Sequence[int]) -> list[Shown]:
    """The cells of one row whose total is shown, hidden so that none can be worked out."""
    shown: list[Shown] = [show(c) for c in counts]
    hidden = [i for i, s in enumerate(shown) if s == SMALL]
    if len(hidden) == 1:
        others = [i for i, c in enumerate(counts) if c > 0 and shown[i] != SMALL]
        if others:
            smallest = min(others, key=lambda i: (counts[i], i))
            shown[smallest] = SMALL
    return shown


def share(flags: Iterable[bool | None]) -> Share:
    known = [flag for flag in flags if flag is not None]
    if len(known) < MIN_DENOMINATOR:
        return Share(None)
    return Share(round(100 * sum(known) / len(known)))


def rollup(units: Iterable[Unit]) -> tuple[dict[int, int], dict[int, Subsidiary]]:
    """Each unit's id -> its subsidiary's id, and the subsidiaries (see the module's doc)."""
    found = {unit.id: unit for unit in units}
    parents = {unit.id: unit.parent_id for unit in found.values()}

    def chain(unit_id: int) -> list[int]:
        path = [unit_id]
        while parents.get(path[-1]) is not None and len(path) <= len(found):
            path.append(parents[path[-1]])  # type: ignore[arg-type]
        return path  # the unit, ..., the top

    to_subsidiary: dict[int, int] = {}
    for unit_id in found:
        path = chain(unit_id)
        top = path[-1]
        below_top = path[-2] if len(path) >= 2 else None
        if below_top is not None and found[below_top].kind == UnitKind.subsidiary:
            to_subsidiary[unit_id] = below_top
        else:
            to_subsidiary[unit_id] = top
    named = {
        i: Subsidiary(i, found[i].code, found[i].name_zh, found[i].name_en)
        for i in set(to_subsidiary.values())
    }
    return to_subsidiary, named


def _quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _live_rows(
    session: Session,
    today: date,
    to_subsidiary: dict[int, int],
    report_ids: Sequence[str] | None = None,
) -> list[StatRow]:
    """One row per report received in a quarter that ended before ``today``, from what is
    dated before ``today`` (``report_ids``: the rows of these reports, whatever their
    quarter)."""
    first_message = (
        select(ReportMessage.report_id, func.min(ReportMessage.created_on).label("on"))
        .where(ReportMessage.author == MessageAuthor.office, ReportMessage.created_on < today)
        .group_by(ReportMessage.report_id)
        .subquery()
    )
    decided = (
        select(CaseDecision.report_id, func.min(CaseDecision.recorded_on).label("on"))
        .where(CaseDecision.state == DecisionState.recorded, CaseDecision.recorded_on < today)
        .group_by(CaseDecision.report_id)
        .subquery()
    )
    query = (
        select(
            Report.kind,
            Report.category,
            Report.unit_id,
            Report.received_on,
            Report.acknowledge_by,
            Report.feedback_by,
            Case.concluded_on,
            Case.disposal,
            first_message.c.on,
            decided.c.on,
        )
        .outerjoin(Case, Case.report_id == Report.id)
        .outerjoin(first_message, first_message.c.report_id == Report.id)
        .outerjoin(decided, decided.c.report_id == Report.id)
    )
    if report_ids is None:
        query = query.where(Report.received_on < _quarter_start(today))
    else:
        query = query.where(Report.id.in_(list(report_ids)))
    rows = []
    for found in session.execute(query):
        kind, category, unit_id, received_on, ack_by, feedback_by = found[:6]
        concluded_on, disposal, wrote_on, decided_on = found[6:]
        concluded = concluded_on is not None and concluded_on < today
        acknowledged = wrote_on is not None and wrote_on <= ack_by
        answered = concluded and concluded_on <= feedback_by
        rows.append(
            StatRow(
                quarter=Quarter.of(received_on),
                kind=ReportKind(kind).value,
                category=str(category),
                subsidiary_id=to_subsidiary[unit_id],
                concluded=concluded,
                acknowledged_in_time=True if acknowledged else (False if ack_by < today else None),
                answered_in_time=True if answered else (False if feedback_by < today else None),
                disposal=Disposal(disposal).value if disposal and decided_on else None,
            )
        )
    return rows


def tabulate(
    rows: Iterable[StatRow],
    today: date,
    subsidiaries: dict[int, Subsidiary],
    categories: Sequence[str] = tuple(c.value for c in ReportCategory),
) -> Stats:
    """The suppressed tables of ``rows`` (live reports, and later purged ones alike).

    ``categories``: the codes of the category table's columns, in order (the administrator's
    categories); a code of a row that is not among them gets a column after them."""
    rows = list(rows)
    by_quarter: dict[Quarter, list[StatRow]] = {}
    for row in rows:
        by_quarter.setdefault(row.quarter, []).append(row)
    quarters = sorted(by_quarter, key=lambda q: (q.year, q.number), reverse=True)
    stats = Stats(as_of=date.fromordinal(today.toordinal() - 1))
    if not quarters:
        return stats
    used = sorted(
        {row.subsidiary_id for group in by_quarter.values() for row in group},
        key=lambda i: subsidiaries[i].code,
    )
    stats.subsidiary_names = {i: subsidiaries[i] for i in used}
    kinds = [k.value for k in ReportKind]
    categories = list(dict.fromkeys([*categories, *sorted({row.category for row in rows})]))
    disposals = [d.value for d in Disposal]
    tables: dict[str, tuple[list, list[TableRow]]] = {
        "kind": (kinds, []),
        "category": (categories, []),
        "subsidiary_id": (used, []),
    }
    disposal_rows: list[TableRow] = []
    for quarter in quarters:
        group = by_quarter[quarter]
        received = len(group)
        concluded = sum(row.concluded for row in group)
        in_handling, done = suppress_row([received - concluded, concluded])
        stats.quarters.append(
            QuarterRow(
                quarter=quarter,
                received=show(received),
                in_handling=in_handling,
                concluded=done,
                acknowledged=share(row.acknowledged_in_time for row in group),
                answered=share(row.answered_in_time for row in group),
            )
        )
        for attribute, (columns, table_rows) in tables.items():
            counted = Counter(getattr(row, attribute) for row in group)
            cells = suppress_row([counted.get(column, 0) for column in columns])
            table_rows.append(TableRow(quarter, show(received), cells))
        counted = Counter(row.disposal for row in group if row.disposal)
        decided_total = sum(counted.values())
        cells = suppress_row([counted.get(d, 0) for d in disposals])
        disposal_rows.append(TableRow(quarter, show(decided_total), cells))
    stats.kinds = Table(kinds, tables["kind"][1])
    stats.categories = Table(categories, tables["category"][1])
    stats.subsidiaries = Table(used, tables["subsidiary_id"][1])
    stats.disposals = Table(disposals, disposal_rows)
    return stats


def compute(session: Session, today: date) -> Stats:
    """The public statistics as of the day before ``today`` (see the module's doc)."""
    to_subsidiary, subsidiaries = rollup(session.scalars(select(Unit)))
    rows = _live_rows(session, today, to_subsidiary)
    rows += _purged_rows(session, today, to_subsidiary)
    return tabulate(rows, today, subsidiaries, report_categories.codes(session))


def row_of_report(
    session: Session, report_id: str, today: date, to_subsidiary: dict[int, int]
) -> StatRow:
    """The row ``compute`` counts for this report today: what its statistics row keeps once
    it is purged (app/services/reports/retention.py)."""
    (row,) = _live_rows(session, today, to_subsidiary, [report_id])
    return row


def _purged_rows(session: Session, today: date, to_subsidiary: dict[int, int]) -> list[StatRow]:
    """The rows kept of purged reports (received in a quarter that ended before ``today``,
    as live ones), to be counted exactly like live reports. A subsidiary is rolled up again,
    as the tree is now (one moved under another subsidiary counts as that one's)."""
    current = Quarter.of(today)
    rows = []
    for kept in session.scalars(select(PurgedReportStat)):
        quarter = Quarter(kept.year, kept.quarter)
        if (quarter.year, quarter.number) >= (current.year, current.number):
            continue
        rows.append(
            StatRow(
                quarter=quarter,
                kind=kept.kind,
                category=kept.category,
                subsidiary_id=to_subsidiary[kept.subsidiary_id],
                concluded=kept.concluded,
                acknowledged_in_time=kept.acknowledged_in_time,
                answered_in_time=kept.answered_in_time,
                disposal=kept.disposal,
            )
        )
    return rows


__all__ = [
    "MIN_DENOMINATOR",
    "SMALL",
    "Quarter",
    "QuarterRow",
    "Share",
    "StatRow",
    "Stats",
    "Subsidiary",
    "Table",
    "TableRow",
    "compute",
    "row_of_report",
    "show",
    "suppress_row",
    "tabulate",
]
