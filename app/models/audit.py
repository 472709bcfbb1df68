"""The staff audit trail: one row per audited act, each a leaf of the audit log.

A row names who acted and on whom both by id and by the username they had that day (an
account renamed or disabled later still reads as it was), the case by its id as text (no
foreign key: the trail outlives a case deleted by retention, and a case id never tells
anything by itself), the day (never a time: an entry beside a report's case must not date
the report finer than its own date) and a few words of detail, never report content.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

DETAIL_MAX = 500  # characters: "a few words", never a report's text


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        # Indices count from 0: a row below is shown on the auditor's pages but covered by
        # no checkpoint (``verify`` names it as inserted all the same).
        CheckConstraint("log_index >= 0", name="log_index_not_negative"),
        # Each filter of the auditor's pages, newest first.
        Index("ix_audit_entries_actor_id_log_index", "actor_id", "log_index"),
        Index("ix_audit_entries_subject_id_log_index", "subject_id", "log_index"),
        Index("ix_audit_entries_case_id_log_index", "case_id", "log_index"),
        Index("ix_audit_entries_action_log_index", "action", "log_index"),
        Index("ix_audit_entries_on_date_log_index", "on_date", "log_index"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    # The leaf hash of the entry before (empty for the first): the record commits to it, so
    # that an entry inserted, removed or moved is named where the chain breaks.
    previous_hash: Mapped[str] = mapped_column(String(64))
    on_date: Mapped[date] = mapped_column(Date)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(30))
    case_id: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    subject_username: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of the audit log at one size."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    # The day only, as for entries: a checkpoint's time would date the entries it adds.
    signed_on: Mapped[date] = mapped_column(Date)
