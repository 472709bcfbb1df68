"""Changes of who may read a case that must outlive the headers they rewrote.

A grant, a recusal or a transfer rewrites every header of a case (app/services/cases/
access.py); the rows here keep what must still hold afterwards: an inspector who declared a
conflict is never given the case again, and an office that passed a case up keeps one line
saying that it did, and to whom. Both are dated by the day, as everything tied to a report.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.reports import NO_ROWID, Report
from app.models.staff import StaffUser
from app.models.units import DisciplineOffice


class CaseRecusal(Base):
    """A staff member who declared a conflict of interest in a case: removed from its readers
    and never to be one again (as one the reporter kept out, ``ReportExclusion``)."""

    __tablename__ = "case_recusals"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    recused_on: Mapped[date] = mapped_column(Date)

    report: Mapped[Report] = relationship()
    staff: Mapped[StaffUser] = relationship()


class CaseTransfer(Base):
    """A case passed up from one office to the office above: the lower office lost access and
    keeps this line. A case goes up only, so it leaves an office at most once."""

    __tablename__ = "case_transfers"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    from_office_id: Mapped[int] = mapped_column(
        ForeignKey("discipline_offices.id"),
        primary_key=True,
        index=True,  # its inbox's lines
    )
    to_office_id: Mapped[int] = mapped_column(ForeignKey("discipline_offices.id"))
    transferred_on: Mapped[date] = mapped_column(Date)
    by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))  # a head of the lower

    report: Mapped[Report] = relationship()
    from_office: Mapped[DisciplineOffice] = relationship(foreign_keys=[from_office_id])
    to_office: Mapped[DisciplineOffice] = relationship(foreign_keys=[to_office_id])
    by_staff: Mapped[StaffUser] = relationship()
