"""Anonymous reports: who they are about and where they went, never who sent them or when.

Everything tied to a report is dated by the day; ids are random, so their order says nothing
about the order of arrival. Text, attachments and the optional real name are age files: the
header (its recipient stanzas) is kept here so that it can be rewritten when access changes,
the payload is a blob in the blob store.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date

from sqlalchemy import (
    DDL,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.staff import StaffUser
from app.models.units import DisciplineOffice, Unit


def new_id() -> str:
    """A random row id: 128 bits, hex."""
    return secrets.token_hex(16)


# SQLite keeps an implicit, increasing rowid in every table that has one: it would tell in
# which order reports (and their files and messages) arrived. These tables have none, and
# their rows lie in the order of their random keys.
NO_ROWID = {"sqlite_with_rowid": False}

# The receipt version of reports stored before the version was (migration 0009): each was
# made by version 1 or 2 of crypto.receipts.RECEIPT_VERSIONS, and nothing stored tells which.
RECEIPT_VERSION_UNRECORDED = 0


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, validate_strings=True)


class ReportKind(enum.StrEnum):
    misconduct = "misconduct"  # a report of misconduct
    criticism = "criticism"  # criticism and suggestion


# The length of a category's code wherever a report's row keeps it (reports, inbox_entries):
# the columns were made this long when the categories were a fixed list.
CATEGORY_CODE_LENGTH = 24


class ReportCategory(enum.StrEnum):
    """The codes of the categories the portal came with, for code that names one (``other``).

    The categories themselves are rows of ``report_categories`` (``ReportCategoryEntry``): the
    administrator adds, renames, orders and retires them; a report keeps its category's code.
    """

    eight_point_rules = "eight_point_rules"  # formalism, bureaucracy, hedonism, extravagance
    bribery_embezzlement = "bribery_embezzlement"
    misuse_of_funds = "misuse_of_funds"
    procurement_bidding = "procurement_bidding"
    appointments_personnel = "appointments_personnel"
    work_style = "work_style"
    party_discipline = "party_discipline"
    other = "other"


# The categories the portal comes with, as migration 0020 made them: code, Chinese name,
# English name. A schema built from the models (tests, throw-away databases) gets them too.
DEFAULT_REPORT_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    (
        ReportCategory.eight_point_rules,
        "违反中央八项规定精神（形式主义、官僚主义、享乐主义、奢靡之风）",
        "Violation of the eight-point rules (formalism, bureaucracy, hedonism, extravagance)",
    ),
    (ReportCategory.bribery_embezzlement, "行贿受贿、贪污侵占", "Bribery and embezzlement"),
    (ReportCategory.misuse_of_funds, "违规使用资金", "Misuse of funds"),
    (ReportCategory.procurement_bidding, "采购与招投标", "Procurement and bidding"),
    (ReportCategory.appointments_personnel, "选人用人", "Appointments and personnel"),
    (ReportCategory.work_style, "工作作风", "Work style"),
    (ReportCategory.party_discipline, "违反党的纪律", "Party discipline"),
    (ReportCategory.other, "其他", "Other"),
)


class ReportCategoryEntry(Base):
    """A category a report may be filed under, named in both languages.

    ``active``: offered on the report form. A retired category is offered no more, but the
    reports filed under it keep it, and the console's filters and the statistics still name it.
    """

    __tablename__ = "report_categories"

    code: Mapped[str] = mapped_column(String(CATEGORY_CODE_LENGTH), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


def _default_categories_sql() -> str:
    # Literal values, no bound parameters: the statement runs with the table's DDL (and is
    # replayed with it by the tests' schema copies). The values are the constants above, none
    # with a quote.
    assert not any("'" in value for row in DEFAULT_REPORT_CATEGORIES for value in row)
    rows = ", ".join(
        f"('{code}', '{zh}', '{en}', {position}, TRUE)"
        for position, (code, zh, en) in enumerate(DEFAULT_REPORT_CATEGORIES)
    )
    columns = "code, name_zh, name_en, position, active"
    return f"INSERT INTO report_categories ({columns}) VALUES {rows}"  # noqa: S608


event.listen(ReportCategoryEntry.__table__, "after_create", DDL(_default_categories_sql()))


class SubjectLevel(enum.StrEnum):
    """The level of the person concerned, which decides the office a report goes to."""

    staff = "staff"
    middle_manager = "middle_manager"
    unit_leader = "unit_leader"  # a leader of the unit: goes to the parent unit's office
    discipline_member = "discipline_member"  # of the unit's own office: goes to the parent's


class ReportStatus(enum.StrEnum):
    """Where a case stands, by the reporting-handling rules (app/services/cases/workflow.py).

    A report of misconduct: received -> acknowledged -> under_assessment -> disposal_decided
    -> concluded. Criticism and suggestion: received -> acknowledged -> answered.
    """

    received = "received"
    acknowledged = "acknowledged"
    under_assessment = "under_assessment"
    disposal_decided = "disposal_decided"
    concluded = "concluded"
    answered = "answered"


class EnvelopeRole(enum.StrEnum):
    text = "text"  # the report's (or a message's) text, with its attachments' names
    attachment = "attachment"
    identity = "identity"  # the reporter's real name and contact, for the office head(s)
    # An internal note of the office (app/models/cases.py CaseNote, never a row here): to the
    # case's readers and the recovery key, never to the reporter.
    note = "note"


class MessageAuthor(enum.StrEnum):
    office = "office"
    reporter = "reporter"


class ReaderRole(enum.StrEnum):
    inspector = "inspector"
    office_head = "office_head"


class Report(Base):
    __tablename__ = "reports"
    # The inbox counts an office's cases by status (app/services/cases/inbox.py).
    __table_args__ = (Index("ix_reports_office_id_status", "office_id", "status"), NO_ROWID)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # From the receipt code, by Argon2id with the installation pepper (hex).
    lookup_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The version of that derivation (crypto.receipts.RECEIPT_VERSIONS), set on every insert:
    # the default is for the rows that migration 0009 found (RECEIPT_VERSION_UNRECORDED).
    receipt_version: Mapped[int] = mapped_column(SmallInteger, index=True, server_default="0")
    kind: Mapped[ReportKind] = mapped_column(_enum(ReportKind))
    category: Mapped[str] = mapped_column(String(CATEGORY_CODE_LENGTH))
    level: Mapped[SubjectLevel] = mapped_column(_enum(SubjectLevel))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("discipline_offices.id"), index=True)
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus))
    received_on: Mapped[date] = mapped_column(Date, index=True)
    acknowledge_by: Mapped[date] = mapped_column(Date)
    feedback_by: Mapped[date] = mapped_column(Date)
    # The reporter's own X25519 public key (derived from the receipt code): office messages
    # are encrypted to it as well, so the reporter can read them with the code alone.
    reporter_recipient: Mapped[str] = mapped_column(String(100))
    real_name: Mapped[bool] = mapped_column(default=False)
    # Whether the report's own text and files are encrypted to ``reporter_recipient`` too,
    # so that the receipt code alone shows the reporter what was sent (the reporter's choice
    # on the form). Every rewrite of those files' headers keeps the reporter among their
    # recipients when this is set.
    reporter_copy: Mapped[bool] = mapped_column(default=False, server_default=false())

    unit: Mapped[Unit] = relationship()
    office: Mapped[DisciplineOffice] = relationship()
    envelopes: Mapped[list[ReportEnvelope]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="(ReportEnvelope.role, ReportEnvelope.position)",
    )
    messages: Mapped[list[ReportMessage]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportMessage.seq"
    )
    readers: Mapped[list[ReportReader]] = relationship(
        back_populates="report", cascade="all, delete-orphan"
    )
    exclusions: Mapped[list[ReportExclusion]] = relationship(
        back_populates="report", cascade="all, delete-orphan"
    )
    # How the office handles it (app/models/cases.py): one row per report, made with it.
    case: Mapped[Case | None] = relationship(  # noqa: F821  app/models/cases.py
        back_populates="report", cascade="all, delete-orphan", uselist=False
    )


class ReportMessage(Base):
    """A message in a report's thread, from the office or from the reporter."""

    __tablename__ = "report_messages"
    __table_args__ = (UniqueConstraint("report_id", "seq"), NO_ROWID)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    seq: Mapped[int]  # its place in the thread: 1, 2, ...
    author: Mapped[MessageAuthor] = mapped_column(_enum(MessageAuthor))
    created_on: Mapped[date] = mapped_column(Date)

    report: Mapped[Report] = relationship(back_populates="messages")
    envelopes: Mapped[list[ReportEnvelope]] = relationship(
        back_populates="message", order_by="(ReportEnvelope.role, ReportEnvelope.position)"
    )


class ReportEnvelope(Base):
    """One age file of a report or a message: its header here, its payload in the blob store."""

    __tablename__ = "report_envelopes"
    __table_args__ = NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(
        ForeignKey("report_messages.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[EnvelopeRole] = mapped_column(_enum(EnvelopeRole))
    position: Mapped[int] = mapped_column(default=0)  # among the attachments of its text
    header: Mapped[bytes] = mapped_column(LargeBinary)  # "age-encryption.org/v1" ... MAC line
    blob_key: Mapped[str] = mapped_column(String(64), unique=True)  # nonce and STREAM payload
    size: Mapped[int]  # of the payload blob, in bytes

    report: Mapped[Report] = relationship(back_populates="envelopes")
    message: Mapped[ReportMessage | None] = relationship(back_populates="envelopes")


class ReportReader(Base):
    """A staff member a report's files and messages are encrypted to (besides the recovery key):
    the office's inspectors and heads; ``role`` says which (a head who is also an inspector
    is a head)."""

    __tablename__ = "report_readers"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    # Indexed: the inbox starts from the cases one staff member reads.
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id"), primary_key=True, index=True
    )
    role: Mapped[ReaderRole] = mapped_column(_enum(ReaderRole))

    report: Mapped[Report] = relationship(back_populates="readers")
    staff: Mapped[StaffUser] = relationship()


class ReportExclusion(Base):
    """An inspector or head the reporter asked to keep out (conflict of interest), of the office
    the report went to or of one it passed on the way: never to be one of its readers."""

    __tablename__ = "report_exclusions"
    __table_args__ = NO_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)

    report: Mapped[Report] = relationship(back_populates="exclusions")
    staff: Mapped[StaffUser] = relationship()
