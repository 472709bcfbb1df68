"""Retention: how long concluded cases are kept, and what stays of those purged.

A concluded case is purged some whole years after its conclusion (the default from the
configuration, ``RETENTION_YEARS``, or its category's period here): every file header, payload,
note and message goes, so nothing can decrypt it any more (app/services/reports/retention.py).
What stays of it is one ``PurgedReportStat`` row, for the public statistics, and the audit
entries that name its case (which hold no content).

A statistics row says nothing finer than a quarter and has no id of its report: its key is
random (and, as for the tables of reports, SQLite keeps no rowid), so neither a column nor the
order of the rows tells which report it was or when it came.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.reports import NO_ROWID, new_id

CATEGORY_CODE_MAX = 40


class RetentionPeriod(Base):
    """A report category's own retention period, in whole years after the conclusion.

    Keyed by the category's code as text (not by the enum of the moment), so the periods
    outlive a change of how categories are stored.
    """

    __tablename__ = "retention_periods"
    __table_args__ = (CheckConstraint("years BETWEEN 1 AND 100", name="years_in_range"),)

    category: Mapped[str] = mapped_column(String(CATEGORY_CODE_MAX), primary_key=True)
    years: Mapped[int] = mapped_column(SmallInteger)


class PurgedReportStat(Base):
    """What the public statistics keep of one purged report (app/services/reports/stats.py
    ``StatRow``), and its office: no id, no day."""

    __tablename__ = "purged_report_stats"
    __table_args__ = (
        CheckConstraint("quarter BETWEEN 1 AND 4", name="quarter_in_range"),
        NO_ROWID,
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    year: Mapped[int] = mapped_column(SmallInteger)  # of receipt
    quarter: Mapped[int] = mapped_column(SmallInteger)  # of receipt, 1..4
    kind: Mapped[str] = mapped_column(String(24))
    category: Mapped[str] = mapped_column(String(CATEGORY_CODE_MAX))
    subsidiary_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("discipline_offices.id"))
    concluded: Mapped[bool]
    acknowledged_in_time: Mapped[bool | None]
    answered_in_time: Mapped[bool | None]
    disposal: Mapped[str | None] = mapped_column(String(32))
