"""The outbox of the daily digest: one message per staff member and day.

A message says how many new reports and replies wait and which deadlines fall due, by case
reference only (app/services/digest.py). It is dated by the day, never timed: every message of
a day is written at once, at the hour the installation chose. The row's key (staff, day) is
what keeps anyone from getting two on one day, whichever process writes it.
"""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.staff import StaffUser


class DigestState(enum.StrEnum):
    waiting = "waiting"  # to be sent by mail (again, after a refusal or a timeout)
    sending = "sending"  # taken by a run that is sending it now
    sent = "sent"  # the mail server accepted it
    held = "held"  # kept in the outbox only: no mail server, or no address (reason says)
    failed = "failed"  # not sent on its day; it stays readable in the console


class DigestMessage(Base):
    __tablename__ = "digest_messages"
    __table_args__ = (UniqueConstraint("staff_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date, index=True)
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[DigestState] = mapped_column(
        Enum(DigestState, native_enum=False, length=16, validate_strings=True)
    )
    # Why it was not sent (yet): a word the console translates (app/services/digest.py
    # REASONS) and the mail server's own answer, if any.
    reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)

    staff: Mapped[StaffUser] = relationship()
