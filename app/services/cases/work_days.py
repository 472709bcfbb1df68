"""The working-day calendar's years kept in the database, as the console edits them.

A year with days here replaces, as a whole, what config.toml's ``WORK_CALENDAR`` and the
``chinese-calendar`` package say of that year (``WorkCalendar.with_overrides``). Saving a year
with no days at all removes it: that year then comes from config.toml or the package again.

Deadlines already stored on cases are not recomputed when a year changes: the new days count
for the dates computed after the change (a report received, a case concluded, the digest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import WorkCalendarDay
from app.services.cases.calendar import YearDays

FIRST_YEAR = 2000
LAST_YEAR = 2099
MAX_DAYS = 366  # a year's holidays and workdays together are at most its days
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
YEAR_RE = re.compile(r"[0-9]{1,4}")
SEPARATORS = re.compile(r"[\s,，、;；]+")


class CalendarError(Exception):
    """A year's days were refused. ``reason``: ``bad_year``, ``bad_date`` (``value`` is the
    text), ``outside_year`` (``value`` the date), ``both`` (a day given as holiday and workday),
    ``too_many``, ``conflict`` (the year was saved by another at the same moment)."""

    def __init__(self, reason: str, value: str = "") -> None:
        super().__init__(f"{reason}: {value}" if value else reason)
        self.reason = reason
        self.value = value


@dataclass(frozen=True)
class StoredYear:
    year: int
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]


def parse_year(text: object) -> int:
    """A year typed in a form: 4 ASCII digits at most, from FIRST_YEAR to LAST_YEAR."""
    value = text.strip() if isinstance(text, str) else ""
    if not YEAR_RE.fullmatch(value) or not FIRST_YEAR <= int(value) <= LAST_YEAR:
        raise CalendarError("bad_year")
    return int(value)


def parse_days(year: int, text: object) -> frozenset[date]:
    """Dates typed as YYYY-MM-DD, apart by line breaks, spaces or commas, all in ``year``."""
    found: set[date] = set()
    for word in SEPARATORS.split(text if isinstance(text, str) else ""):
        if not word:
            continue
        if not DATE_RE.fullmatch(word):
            raise CalendarError("bad_date", word[:40])
        try:
            day = date.fromisoformat(word)
        except ValueError:
            raise CalendarError("bad_date", word) from None
        if day.year != year:
            raise CalendarError("outside_year", word)
        found.add(day)
    return frozenset(found)


def stored_years(session: Session) -> list[StoredYear]:
    """Each year that has days in the database, with its days in order."""
    years: dict[int, tuple[list[date], list[date]]] = {}
    query = select(WorkCalendarDay).order_by(WorkCalendarDay.day)
    for row in session.scalars(query):
        holidays, workdays = years.setdefault(row.year, ([], []))
        (holidays if row.holiday else workdays).append(row.day)
    return [StoredYear(year, tuple(h), tuple(w)) for year, (h, w) in sorted(years.items())]


def overrides(session: Session) -> dict[int, YearDays]:
    """The database's years as ``WorkCalendar.with_overrides`` takes them."""
    return {
        found.year: YearDays(frozenset(found.holidays), frozenset(found.workdays))
        for found in stored_years(session)
    }


def save_year(
    session: Session, year: int, holidays: frozenset[date], workdays: frozenset[date]
) -> bool:
    """Replace the days of ``year`` with these; none at all removes the year. Returns whether
    the year is kept in the database now. CalendarError if a day is outside the year or given
    as both a holiday and a workday."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarError("bad_year")
    for day in sorted(holidays | workdays):
        if day.year != year:
            raise CalendarError("outside_year", day.isoformat())
    both = sorted(holidays & workdays)
    if both:
        raise CalendarError("both", both[0].isoformat())
    if len(holidays) + len(workdays) > MAX_DAYS:
        raise CalendarError("too_many")
    try:
        # Another save of the same year at the same moment makes the same days: refused.
        with session.begin_nested():
            session.execute(delete(WorkCalendarDay).where(WorkCalendarDay.year == year))
            session.add_all(
                WorkCalendarDay(day=d, year=year, holiday=True) for d in sorted(holidays)
            )
            session.add_all(
                WorkCalendarDay(day=d, year=year, holiday=False) for d in sorted(workdays)
            )
    except IntegrityError:
        raise CalendarError("conflict") from None
    return bool(holidays or workdays)
