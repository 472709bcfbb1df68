"""How a discipline office handles a report: its case.

A report's ``status`` stays on the report (the reporter's follow-up page reads it); the rest of
the office's work is here: the disposal decided, who is assigned, labels for triage, the dates
the reporter is owed a word by, when each reader last looked, internal notes (encrypted, like
a report's files) and disposal decisions with the members who confirmed them.

As everything tied to a report, these carry dates, never times, and random ids. "Changed since
I last looked" compares counters (``Case.version`` against ``CaseView.seen_version``), not
times: a change bumps the case's counter, a look records the counter it saw.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import ClassVar

from sqlalchemy import Date, Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.reports import NO_ROWID, EnvelopeRole, Report, ReportMessage, new_id
from app.models.staff import StaffUser


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Disposal(enum.StrEnum):
    """The five ways of disposing of a report of misconduct, chosen collectively."""

    talk_or_inquiry = "talk_or_inquiry"  # talk or written inquiry
    preliminary_verification = "preliminary_verification"
    shelved_pending_evidence = "shelved_pending_evidence"
    closed_no_action = "closed_no_action"
    sent_for_investigation = "sent_for_investigation"


class DecisionState(enum.StrEnum):
    pending = "pending"  # proposed, waiting for enough members to confirm it
    recorded = "recorded"  # decided together: the case's disposal
    withdrawn = "withdrawn"


MAX_LABEL_CHARS = 24


class Case(Base):
    """The office's side of one report."""

    __tablename__ = "cases"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    disposal: Mapped[Disposal | None] = mapped_column(_enum(Disposal))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # Real-name reporters are told within 15 working days whether their report is taken up,
    # and again within 15 working days of its conclusion (app/services/cases/deadlines.py).
    take_up_notice_by: Mapped[date | None] = mapped_column(Date)
    take_up_told_on: Mapped[date | None] = mapped_column(Date)
    concluded_on: Mapped[date | None] = mapped_column(Date)
    conclusion_notice_by: Mapped[date | None] = mapped_column(Date)
    outcome_told_on: Mapped[date | None] = mapped_column(Date)
    # The earliest date of a step still open (None: nothing owed): the inbox sorts by it and
    # a step is overdue when it is before today. Kept by deadlines.refresh on every change.
    next_due: Mapped[date | None] = mapped_column(Date, index=True)
    # Counts the changes (messages, status, notes, labels, assignment, decisions).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # ``version`` as the reporter's last message left it (0: the reporter never wrote again).
    reporter_version: Mapped[int] = mapped_column(default=0, server_default="0")

    report: Mapped[Report] = relationship(back_populates="case")
    assignee: Mapped[StaffUser | None] = relationship()
    labels: Mapped[list[CaseLabel]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseLabel.name"
    )


class CaseLabel(Base):
    """A word for internal triage (never shown to the reporter). Stored in the clear, to be
    filtered on: the page that sets one says to keep names and facts out of it."""

    __tablename__ = "case_labels"
    # By name: the inbox's label filter and its list of labels start from the name.
    __table_args__ = (Index("ix_case_labels_name", "name", "report_id"), NO_ROWID)

    report_id: Mapped[str] = mapped_column(
        ForeignKey("cases.report_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(MAX_LABEL_CHARS * 4), primary_key=True)

    case: Mapped[Case] = relationship(back_populates="labels")


class CaseView(Base):
    """The case's ``version`` a reader saw when they last opened it, and the day."""

    __tablename__ = "case_views"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("cases.report_id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    seen_version: Mapped[int]
    seen_on: Mapped[date] = mapped_column(Date)


class CaseNote(Base):
    """An internal note: an age file (header here, payload in the blob store) for the case's
    readers and the office's recovery key, never the reporter.

    It names its place as a report's files do (app/services/reports/places.py: role ``note``,
    message 0, position ``seq``), so a header moved to another case or note does not open.
    Grant, recusal, transfer and recovery rewrap ``header`` like a report envelope's.
    """

    __tablename__ = "case_notes"
    __table_args__ = (UniqueConstraint("report_id", "seq"), NO_ROWID)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(
        ForeignKey("cases.report_id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    created_on: Mapped[date] = mapped_column(Date)
    header: Mapped[bytes] = mapped_column(LargeBinary)
    blob_key: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int]

    author: Mapped[StaffUser] = relationship()

    # What places.check and envelopes.opened read of a file's row.
    role: ClassVar[EnvelopeRole] = EnvelopeRole.note
    message: ClassVar[ReportMessage | None] = None

    @property
    def position(self) -> int:
        return self.seq


class CaseDecision(Base):
    """A disposal proposed for a case, and once enough members confirmed it, decided."""

    __tablename__ = "case_decisions"
    # One pending decision per case, whatever the code does (decisions.py also claims the case).
    __table_args__ = (
        Index(
            "uq_case_decisions_pending",
            "report_id",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        NO_ROWID,
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(
        ForeignKey("cases.report_id", ondelete="CASCADE"), index=True
    )
    disposal: Mapped[Disposal] = mapped_column(_enum(Disposal))
    state: Mapped[DecisionState] = mapped_column(_enum(DecisionState), index=True)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    proposed_on: Mapped[date] = mapped_column(Date)
    recorded_on: Mapped[date | None] = mapped_column(Date)

    proposer: Mapped[StaffUser] = relationship()
    members: Mapped[list[CaseDecisionMember]] = relationship(
        back_populates="decision",
        cascade="all, delete-orphan",
        order_by="CaseDecisionMember.staff_id",
    )


class CaseDecisionMember(Base):
    """A member who confirmed a decision, in their own session, on ``confirmed_on``."""

    __tablename__ = "case_decision_members"
    __table_args__ = NO_ROWID

    decision_id: Mapped[str] = mapped_column(
        ForeignKey("case_decisions.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    confirmed_on: Mapped[date] = mapped_column(Date)

    decision: Mapped[CaseDecision] = relationship(back_populates="members")
    staff: Mapped[StaffUser] = relationship()
