"""The daily pass's marker: the last day whose reports' times are reset (reports/day_reset.py).

On PostgreSQL every server that shares the database runs the pass against the same rows, so
the day done is kept here, once for all of them. One row, a date and nothing else: a time would
itself tell when the pass, and so the days' last work, ran. On SQLite (one machine) the pass
keeps its marker in the blob folder and this table stays empty.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

MARKER_ROW = 1


class DaysResetMarker(Base):
    """The last day the pass finished; no row: it never finished (or not since 0023)."""

    __tablename__ = "days_reset_markers"
    __table_args__ = (CheckConstraint(f"id = {MARKER_ROW}", name="one_row"),)

    id: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, autoincrement=False, default=MARKER_ROW
    )
    last_day: Mapped[date] = mapped_column(Date)
