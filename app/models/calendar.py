"""The installation's own working-day calendar: holidays and make-up workdays by year.

Kept in the database and edited in the console (``/admin/calendar``). A year that has days here
replaces, as a whole, what the ``WORK_CALENDAR`` setting and the ``chinese-calendar`` package
say of that year (app/services/cases/calendar.py).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class WorkCalendarDay(Base):
    """One day of a year's override: a public holiday, or a weekend day worked in exchange."""

    __tablename__ = "work_calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    holiday: Mapped[bool] = mapped_column(Boolean)  # False: a make-up workday
