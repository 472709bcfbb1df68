"""Reporting periods of periodic disclosures, named by keys: 2026-05, 2026-Q2, 2026-H1, 2026."""

from __future__ import annotations

import re
from datetime import date, timedelta

from app.models import Period

PERIOD_KEY_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$", re.ASCII)
# Dates a disclosure, a schedule or a catalogue entry may name: far enough either way for any
# real record, and periods and local times stay within what dates and the database hold.
FIRST_YEAR = 2000
LAST_YEAR = 2099


def period_key(period: Period, day: date) -> str:
    """The key of the period of kind ``period`` that contains ``day``."""
    if period == Period.monthly:
        return f"{day.year}-{day.month:02d}"
    if period == Period.quarterly:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == Period.half_yearly:
        return f"{day.year}-H{1 if day.month <= 6 else 2}"
    return f"{day.year}"


def period_range(key: str) -> tuple[date, date]:
    """First and last day of the period named by ``key``."""
    if not PERIOD_KEY_RE.match(key):
        raise ValueError(f"not a period key: {key!r}")
    year = int(key[:4])
    if len(key) == 4:
        first_month, months = 1, 12
    elif key[5] == "Q":
        first_month, months = (int(key[6]) - 1) * 3 + 1, 3
    elif key[5] == "H":
        first_month, months = (int(key[6]) - 1) * 6 + 1, 6
    else:
        first_month, months = int(key[5:7]), 1
    start = date(year, first_month, 1)
    end_month = first_month + months
    end = date(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def periods_between(period: Period, start: date, today: date) -> list[str]:
    """Keys of the periods that ended on or after ``start`` and before ``today``, oldest first."""
    keys: list[str] = []
    day = start
    while True:
        key = period_key(period, day)
        _first, last = period_range(key)
        if last >= today:
            break
        if last >= start:
            keys.append(key)
        day = last + timedelta(days=1)
    return keys
