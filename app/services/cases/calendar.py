"""Working days on the official calendar: weekends, public holidays and make-up workdays.

The default is the ``chinese-calendar`` package (the State Council's yearly notice of holidays
and the weekend days worked in exchange). It knows the years up to its release; the
installation may give any year's holidays and make-up workdays itself, which then replace the
package's for that year: in config.toml (``WORK_CALENDAR``), or in the console
(``/admin/calendar``, kept in the database, app/services/cases/work_days.py). A year the
console has days for replaces the same year of config.toml as a whole (``with_overrides``);
the two are never merged day by day. A year none of them knows counts Monday to Friday as
working days, and ``known`` says so, for the pages to tell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import chinese_calendar

MAX_STEPS = 3 * 366  # a deadline in working days past this many days is a setting's mistake


@dataclass(frozen=True)
class YearDays:
    """One year's public holidays and make-up workdays, as the installation gave them."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days; ``overrides`` win over the package, year by year."""

    overrides: Mapping[int, YearDays] = field(default_factory=dict)
    use_package: bool = True

    @classmethod
    def from_config(cls, setting: Any) -> WorkCalendar:
        """The calendar of a ``WORK_CALENDAR`` setting: ``{"2027": {"holidays": [...],
        "workdays": [...]}}`` with ISO dates. Raises ValueError naming what is wrong."""
        if setting in (None, "", {}):
            return cls()
        if not isinstance(setting, Mapping):
            raise ValueError("must be a table of years")
        overrides: dict[int, YearDays] = {}
        for key, value in setting.items():
            year = _year(key)
            if not isinstance(value, Mapping) or set(value) - {"holidays", "workdays"}:
                raise ValueError(f"{key}: give holidays and workdays, lists of dates")
            holidays = _dates(year, value.get("holidays", []))
            workdays = _dates(year, value.get("workdays", []))
            if holidays & workdays:
                raise ValueError(f"{key}: a day cannot be both a holiday and a workday")
            overrides[year] = YearDays(holidays, workdays)
        return cls(overrides)

    def with_overrides(self, overrides: Mapping[int, YearDays]) -> WorkCalendar:
        """This calendar with the years of ``overrides`` replacing its own (and the package's)."""
        if not overrides:
            return self
        return WorkCalendar({**self.overrides, **overrides}, self.use_package)

    def known(self, year: int) -> bool:
        """Whether the holidays of ``year`` are known (else only weekends are counted)."""
        if year in self.overrides:
            return True
        return self.use_package and package_knows(year)

    def is_workday(self, day: date) -> bool:
        given = self.overrides.get(day.year)
        if given is not None:
            if day in given.workdays:
                return True
            if day in given.holidays:
                return False
            return day.weekday() < 5
        if self.use_package and package_knows(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        day, counted = start, 0
        for _ in range(MAX_STEPS):
            if counted >= days:
                return day
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        raise ValueError(f"no {days} working days within {MAX_STEPS} days of {start}")

    def on_or_after(self, day: date) -> date:
        """``day`` if it is a working day, else the next one: a deadline in calendar days that
        falls on a weekend or holiday moves to the next working day."""
        for _ in range(MAX_STEPS):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no working day within {MAX_STEPS} days of {day}")

    def unknown_years(self, days: Iterable[date | None]) -> list[int]:
        """The years of ``days`` this calendar does not know the holidays of, in order."""
        return sorted({d.year for d in days if d is not None and not self.known(d.year)})


def package_days(year: int) -> YearDays | None:
    """The holidays and make-up workdays the package gives for ``year``, or None if it does
    not know the year (a starting point for the installation's own list)."""
    if not package_knows(year):
        return None
    return YearDays(
        frozenset(d for d in chinese_calendar.holidays if d.year == year),
        frozenset(d for d in chinese_calendar.workdays if d.year == year),
    )


def package_knows(year: int) -> bool:
    """Whether the ``chinese-calendar`` package knows the holidays of ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _year(key: object) -> int:
    text = str(key)
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise ValueError(f"{key!r} is not a year")
    return int(text)


def _dates(year: int, values: object) -> frozenset[date]:
    if not isinstance(values, list | tuple):
        raise ValueError(f"{year}: holidays and workdays are lists of dates")
    found = set()
    for value in values:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{year}: {value!r} is not a date (YYYY-MM-DD)") from None
        if day.year != year:
            raise ValueError(f"{year}: {day.isoformat()} is not in that year")
        found.add(day)
    return frozenset(found)
