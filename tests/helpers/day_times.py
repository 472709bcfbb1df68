"""What the tests of report times and bench/day_times_scan.py share: the day reports come, a
clock to send them by, and the measures of order and time a copy of the server is scanned with."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.helpers.reports import TODAY

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = TODAY  # the day the reports come
NEXT = DAY + timedelta(days=1)  # the day the pass runs


class Clock:
    """The blob store's clock, set by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute, second), SHANGHAI)


def concordance(values: list) -> float:
    """The share of pairs that are in increasing order: 1.0 sorted, 0.0 reversed, ~0.5 random."""
    pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
    return sum(a < b for a, b in pairs) / len(pairs)


def scan(folder: Path) -> dict[Path, os.stat_result]:
    """Every file and folder under ``folder``, each folder stat'ed before it is listed (as cp -a
    and tar do: listing a folder sets its access time on most mounts)."""
    found = {folder: os.stat(folder)}
    for entry in os.listdir(folder):
        path = folder / entry
        if path.is_dir():
            found.update(scan(path))
        else:
            found[path] = os.stat(path)
    return found
