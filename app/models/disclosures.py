"""Disclosures: catalogue, working copies under review, published revisions, the Merkle log.

A disclosure's public text lives only in its revisions, which are never updated after they
are written: an amendment or a retraction is a new revision, and each revision is a leaf of
the disclosure log. The columns on ``Disclosure`` itself are the working copy (what the
publisher edits and the approver reviews) plus a few copies of the current revision that
listings, filters and search need.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow
from app.models.staff import StaffUser
from app.models.units import Unit

_log = logging.getLogger(__name__)


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    # The column holds each member's value (by default SQLAlchemy stores the name).
    return Enum(
        cls,
        native_enum=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Domain(enum.StrEnum):
    factory = "factory"
    party = "party"


class Period(enum.StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    half_yearly = "half_yearly"
    yearly = "yearly"


class Scope(enum.StrEnum):
    """Who may read a disclosure."""

    everyone = "everyone"  # everybody on the intranet, signed in or not
    unit = "unit"  # readers of the disclosure's unit and its sub-units
    party = "party"  # party members


class PublicState(enum.StrEnum):
    unpublished = "unpublished"
    published = "published"
    retracted = "retracted"


class WorkState(enum.StrEnum):
    """Where the working copy stands in review."""

    none = "none"  # nothing pending
    draft = "draft"
    in_review = "in_review"
    returned = "returned"
    scheduled = "scheduled"  # approved, goes out at scheduled_at


class Action(enum.StrEnum):
    """What a working copy or a revision does to the public page."""

    publish = "publish"
    amend = "amend"
    retract = "retract"
    # The workers' congress's review recorded on a published item: the text stays as it was.
    review = "review"


class CongressStatus(enum.StrEnum):
    """Where the workers' congress's review of a published item stands."""

    awaiting = "awaiting"
    under_review = "under_review"
    reviewed = "reviewed"


class StepAction(enum.StrEnum):
    """A step of a disclosure's workflow record; the values are what the rows hold."""

    created = "created"
    edited = "edited"
    submitted = "submitted"
    returned = "returned"
    approved = "approved"
    scheduled = "scheduled"
    published = "published"
    amended = "amended"
    retracted = "retracted"
    imported = "imported"
    discarded = "discarded"
    amendment_started = "amendment started"
    retraction_requested = "retraction requested"
    attachment_added = "attachment added"
    attachment_removed = "attachment removed"
    congress_review = "congress review"


class QuestionState(enum.StrEnum):
    pending = "pending"
    published = "published"
    rejected = "rejected"


@dataclass(frozen=True)
class PublishedFile:
    """An attachment as a revision published it."""

    id: int
    filename: str
    sha256: str  # hex

    def as_json(self) -> list[int | str]:
        """The ``[id, file name, sha256]`` triple the revision's log leaf commits to."""
        return [self.id, self.filename, self.sha256]


def parse_published_files(stored: str) -> tuple[PublishedFile, ...]:
    """The files listed by a stored JSON list of ``[id, file name, sha256]`` triples.

    Raises ValueError for anything else: a row that does not read as written is not guessed at.
    """
    rows = json.loads(stored)
    if not isinstance(rows, list):
        raise ValueError("the attachment list is not a JSON list")
    files = []
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == 3
            and type(row[0]) is int  # not a bool, which JSON parsing gives as a subclass
            and isinstance(row[1], str)
            and isinstance(row[2], str)
        ):
            raise ValueError("an attachment is not an [id, file name, sha256] triple")
        files.append(PublishedFile(*row))
    return tuple(files)


class PublishedFiles(TypeDecorator[tuple[PublishedFile, ...]]):
    """A revision's attachments, stored as compact JSON: ``[[id, "file name", "sha256"], ...]``.

    The stored text is what revisions have always held; the log's leaves commit to the same
    triples (``services.disclosures.log.canonical_record``).
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str:
        files = tuple(value or ())
        if not all(isinstance(f, PublishedFile) for f in files):
            raise TypeError("a revision lists PublishedFile values")
        return json.dumps([f.as_json() for f in files], ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Any) -> tuple[PublishedFile, ...]:
        try:
            return parse_published_files(value or "[]")
        except ValueError:
            # A row changed behind the application's back: pages still show the revision
            # (without files), and ``portal log verify`` names the row, from its stored text.
            _log.error("a revision's attachment list cannot be read; run `portal log verify`")
            return ()


class DisclosureCategory(Base):
    __tablename__ = "disclosure_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    domain: Mapped[Domain] = mapped_column(_enum(Domain))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


class CatalogueEntry(Base):
    """A periodic duty: this category must be disclosed for this unit every period."""

    __tablename__ = "disclosure_catalogue"
    __table_args__ = (UniqueConstraint("category_id", "unit_id", name="uq_disclosure_catalogue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("disclosure_categories.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    period: Mapped[Period] = mapped_column(_enum(Period))
    # Days after the end of a period by which its disclosure is due.
    due_days: Mapped[int] = mapped_column(Integer, default=30)
    scope: Mapped[Scope] = mapped_column(_enum(Scope), default=Scope.everyone)
    # Periods ending before this date are not owed (the duty did not exist yet).
    starts_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    category: Mapped[DisclosureCategory] = relationship()
    unit: Mapped[Unit] = relationship()


class Disclosure(Base):
    __tablename__ = "disclosures"
    __table_args__ = (
        Index("ix_disclosures_listing", "public_state", "published_at"),
        Index("ix_disclosures_due", "work_state", "scheduled_at"),
        # What a reader may see, counted and listed from the index alone: the public pages
        # count, page and collect the years of tens of thousands of items.
        Index("ix_disclosures_visible", "public_state", "scope", "published_at"),
        Index("ix_disclosures_period", "period_key", "public_state", "scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    public_state: Mapped[PublicState] = mapped_column(
        _enum(PublicState), default=PublicState.unpublished
    )
    work_state: Mapped[WorkState] = mapped_column(_enum(WorkState), default=WorkState.draft)
    # The working copy: what is being drafted, reviewed or scheduled.
    work_action: Mapped[Action] = mapped_column(_enum(Action), default=Action.publish)
    work_author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("disclosure_categories.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    scope: Mapped[Scope] = mapped_column(_enum(Scope), default=Scope.everyone)
    # The reporting period of a periodic item: 2026-03, 2026-Q1, 2026-H1 or 2026.
    period_key: Mapped[str | None] = mapped_column(String(10))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The record of the collective decision behind a "three importants and one large" item, as
    # canonical JSON (services.disclosures.decisions); None: no record.
    decision_record: Mapped[str | None] = mapped_column(Text)
    # The publisher asks the workers' congress to review the item once it is published.
    congress_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Copies of the current published revision, for listings, filters and search.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revision_count: Mapped[int] = mapped_column(Integer, default=0)
    public_title: Mapped[str] = mapped_column(String(300), default="")
    # The body of the current revision as plain text, for search and its snippets; empty
    # unless published. The title searched is ``public_title``.
    search_body: Mapped[str] = mapped_column(Text, default="")
    # The workers' congress's review as the last revision records it (None: not asked for).
    congress_status: Mapped[CongressStatus | None] = mapped_column(
        _enum(CongressStatus), index=True
    )
    congress_opinion: Mapped[str] = mapped_column(Text, default="")

    author: Mapped[StaffUser | None] = relationship(foreign_keys=[author_id])
    work_author: Mapped[StaffUser | None] = relationship(foreign_keys=[work_author_id])
    category: Mapped[DisclosureCategory] = relationship()
    unit: Mapped[Unit] = relationship()
    revisions: Mapped[list[DisclosureRevision]] = relationship(
        back_populates="disclosure", order_by="DisclosureRevision.number"
    )
    steps: Mapped[list[DisclosureStep]] = relationship(
        back_populates="disclosure", order_by="DisclosureStep.id"
    )
    attachments: Mapped[list[DisclosureAttachment]] = relationship(
        back_populates="disclosure", order_by="DisclosureAttachment.id"
    )


class DisclosureRevision(Base):
    """One published state of a disclosure; written once, never updated."""

    __tablename__ = "disclosure_revisions"
    __table_args__ = (UniqueConstraint("disclosure_id", "number", name="uq_disclosure_revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    action: Mapped[Action] = mapped_column(_enum(Action))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    category_code: Mapped[str] = mapped_column(String(40))
    unit_code: Mapped[str] = mapped_column(String(32))
    scope: Mapped[Scope] = mapped_column(_enum(Scope))
    period_key: Mapped[str | None] = mapped_column(String(10))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The files published with this revision (the column keeps its first name).
    attachments: Mapped[tuple[PublishedFile, ...]] = mapped_column(
        "attachments_json", PublishedFiles(), default=()
    )
    # The collective decision's record as published (canonical JSON), and the workers'
    # congress's review at this revision; None on revisions without them (older ones too: their
    # log records, and so their leaves, stay as they were).
    decision_record: Mapped[str | None] = mapped_column(Text)
    congress_status: Mapped[CongressStatus | None] = mapped_column(_enum(CongressStatus))
    congress_opinion: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    log_index: Mapped[int] = mapped_column(Integer, unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))

    disclosure: Mapped[Disclosure] = relationship(back_populates="revisions")
    author: Mapped[StaffUser | None] = relationship(foreign_keys=[author_id])
    approver: Mapped[StaffUser | None] = relationship(foreign_keys=[approver_id])


class DisclosureStep(Base):
    """Who did what to a disclosure, and when: the workflow record."""

    __tablename__ = "disclosure_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    action: Mapped[StepAction] = mapped_column(_enum(StepAction, length=30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    disclosure: Mapped[Disclosure] = relationship(back_populates="steps")
    actor: Mapped[StaffUser | None] = relationship()


class DisclosureAttachment(Base):
    __tablename__ = "disclosure_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set once a published revision lists it; from then on it cannot be deleted.
    published: Mapped[bool] = mapped_column(Boolean, default=False)

    disclosure: Mapped[Disclosure] = relationship(back_populates="attachments")


class DisclosureQuestion(Base):
    """A worker's question under a disclosure. Only the date is kept, never who or when."""

    __tablename__ = "disclosure_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    asked_on: Mapped[date] = mapped_column(Date)
    state: Mapped[QuestionState] = mapped_column(
        _enum(QuestionState), default=QuestionState.pending
    )
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    answered_on: Mapped[date | None] = mapped_column(Date)

    disclosure: Mapped[Disclosure] = relationship()
    answered_by: Mapped[StaffUser | None] = relationship()


class LogCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of the disclosure log at one size."""

    __tablename__ = "disclosure_log_checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PublicVersion(Base):
    """One row counting changes to what the public site shows (see services.public_version)."""

    __tablename__ = "public_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
