"""Disclosures: drafting, review, publication, amendment, retraction, reading and questions.

Nothing published is edited in place. ``publish``, ``amend`` and ``retract`` each write a new
``DisclosureRevision`` and append its leaf to the disclosure log; the review workflow
(``create_draft`` ... ``approve``) only decides when they are called. An importer of
historical items calls ``import_published`` (or ``publish`` with ``at=``) directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Action,
    CatalogueEntry,
    Disclosure,
    DisclosureCategory,
    DisclosureQuestion,
    DisclosureRevision,
    DisclosureStep,
    Domain,
    Period,
    PublicState,
    QuestionState,
    Scope,
    StaffUser,
    Unit,
    WorkState,
)
from app.security.sanitize import markdown_to_text
from app.services import disclosure_log, listing_cache
from app.services import search as search_index
from app.services.attachments import ATTACHMENT_ADDED, ATTACHMENT_REMOVED, remove_attachment
from app.services.blobs import BlobStore
from app.services.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    PERIOD_KEY_RE,
    period_key,
    period_range,
    periods_between,
)

TITLE_MAX = 300
BODY_MAX = 100_000
QUESTION_MIN = 5
QUESTION_MAX = 2000


class DisclosureError(Exception):
    """A disclosure operation was refused; ``message`` is for the person who tried it."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


class NotAllowed(DisclosureError):
    """The staff member may not do this to this disclosure."""


class WrongState(DisclosureError):
    """The disclosure is not in a state where this step makes sense."""


# --- categories -----------------------------------------------------------------------------

# code, domain, Chinese name, English name (factory-affairs and party-affairs disclosure rules)
DEFAULT_CATEGORIES: list[tuple[str, Domain, str, str]] = [
    (
        "major-decisions",
        Domain.factory,
        "“三重一大”事项",
        "Major decisions, appointments, projects and fund use",
    ),
    ("budget-accounts", Domain.factory, "财务预决算", "Budgets and final accounts"),
    ("procurement", Domain.factory, "采购与招投标", "Procurement and bidding"),
    (
        "pay-welfare",
        Domain.factory,
        "薪酬、福利与社会保险",
        "Pay, bonuses, welfare and social insurance",
    ),
    ("work-safety", Domain.factory, "安全生产", "Work safety"),
    (
        "leaders-expenses",
        Domain.factory,
        "领导人员薪酬及履职待遇、业务支出",
        "Leaders' pay, allowances, vehicles, entertainment and travel",
    ),
    ("workers-congress", Domain.factory, "职代会决议", "Workers' congress resolutions"),
    ("party-decisions", Domain.party, "贯彻落实上级决策部署", "Implementation of decisions"),
    ("organisation-life", Domain.party, "组织生活", "Organisation life"),
    ("elections", Domain.party, "党组织换届选举", "Elections"),
    ("member-admission", Domain.party, "发展党员", "Admitting members"),
    ("member-appraisal", Domain.party, "民主评议党员", "Member appraisal"),
    ("party-dues", Domain.party, "党费收缴和使用", "Party dues collection and use"),
    ("conduct-problems", Domain.party, "作风问题整改", "Conduct problems"),
    (
        "discipline-outcomes",
        Domain.party,
        "执纪问责结果",
        "Discipline outcomes and accountability cases",
    ),
]


def ensure_categories(session: Session) -> int:
    """Add the standard categories that are missing; returns how many were added."""
    existing = set(session.scalars(select(DisclosureCategory.code)))
    added = 0
    for position, (code, domain, name_zh, name_en) in enumerate(DEFAULT_CATEGORIES):
        if code in existing:
            continue
        session.add(
            DisclosureCategory(
                code=code, domain=domain, name_zh=name_zh, name_en=name_en, position=position
            )
        )
        added += 1
    session.flush()
    return added


def list_categories(session: Session, *, active_only: bool = True) -> list[DisclosureCategory]:
    query = select(DisclosureCategory).order_by(
        DisclosureCategory.domain, DisclosureCategory.position, DisclosureCategory.id
    )
    if active_only:
        query = query.where(DisclosureCategory.active.is_(True))
    return list(session.scalars(query))


def category_by_code(session: Session, code: str) -> DisclosureCategory | None:
    return session.scalar(select(DisclosureCategory).where(DisclosureCategory.code == code))


def unit_by_code(session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code))


# --- who reads what -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Who is reading the public site: nobody in particular unless a trusted proxy says so."""

    name: str | None = None
    unit_code: str | None = None
    party_member: bool = False

    @property
    def identified(self) -> bool:
        return self.name is not None


ANONYMOUS = Reader()


def _reader_unit_chain(session: Session, reader: Reader) -> list[int]:
    """The reader's unit and its ancestors: the units whose unit-scoped items they may read."""
    if not reader.unit_code:
        return []
    unit = unit_by_code(session, reader.unit_code)
    if unit is None:
        return []
    return [unit.id, *(ancestor.id for ancestor in unit.ancestors())]


def scope_clause(session: Session, reader: Reader, scope_col=None, unit_col=None) -> ColumnElement:
    """SQL condition: rows whose scope lets ``reader`` see them.

    Works on any table with a scope and a unit column (defaults: ``Disclosure``), so search
    and catalogue queries filter exactly as the index does.
    """
    scope_col = Disclosure.scope if scope_col is None else scope_col
    unit_col = Disclosure.unit_id if unit_col is None else unit_col
    conditions: list[ColumnElement] = [scope_col == Scope.everyone]
    chain = _reader_unit_chain(session, reader)
    if chain:
        conditions.append(and_(scope_col == Scope.unit, unit_col.in_(chain)))
    if reader.party_member:
        conditions.append(scope_col == Scope.party)
    return or_(*conditions)


def visible_clause(session: Session, reader: Reader) -> ColumnElement:
    """SQL condition: disclosures on the public site that ``reader`` may see (incl. retracted)."""
    return and_(
        Disclosure.public_state.in_((PublicState.published, PublicState.retracted)),
        scope_clause(session, reader),
    )


def can_read(session: Session, reader: Reader, disclosure: Disclosure) -> bool:
    if disclosure.public_state == PublicState.unpublished:
        return False
    if disclosure.scope == Scope.everyone:
        return True
    if disclosure.scope == Scope.party:
        return reader.party_member
    return disclosure.unit_id in _reader_unit_chain(session, reader)


def get_readable(session: Session, reader: Reader, disclosure_id: int) -> Disclosure | None:
    disclosure = session.get(Disclosure, disclosure_id)
    if disclosure is None or not can_read(session, reader, disclosure):
        return None
    return disclosure


@dataclass
class Filters:
    category: DisclosureCategory | None = None
    unit: Unit | None = None
    period_key: str | None = None
    year: int | None = None
    include_sub_units: bool = True


def _unit_subtree_ids(session: Session, unit: Unit) -> list[int]:
    ids = [unit.id]
    frontier = [unit.id]
    while frontier:
        children = list(session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier))))
        ids.extend(children)
        frontier = children
    return ids


def list_public(
    session: Session,
    reader: Reader,
    filters: Filters | None = None,
    *,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Disclosure], int]:
    """One page of what ``reader`` may see, newest first, and the total count."""
    filters = filters or Filters()
    conditions = [visible_clause(session, reader)]
    if filters.category is not None:
        conditions.append(Disclosure.category_id == filters.category.id)
    if filters.unit is not None:
        if filters.include_sub_units:
            conditions.append(Disclosure.unit_id.in_(_unit_subtree_ids(session, filters.unit)))
        else:
            conditions.append(Disclosure.unit_id == filters.unit.id)
    if filters.period_key:
        conditions.append(Disclosure.period_key == filters.period_key)
    if filters.year:
        start = datetime(filters.year, 1, 1, tzinfo=UTC)
        conditions.append(Disclosure.published_at >= start)
        conditions.append(Disclosure.published_at < start.replace(year=filters.year + 1))

    def count_and_ids() -> tuple[int, list[int]]:
        total = session.scalar(select(func.count(Disclosure.id)).where(*conditions)) or 0
        ids = session.scalars(
            select(Disclosure.id)
            .where(*conditions)
            .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
            .limit(per_page)
            .offset(max(0, page - 1) * per_page)
        )
        return total, list(ids)

    key = ("list_public", reader, _filters_key(filters), page, per_page)
    total, ids = listing_cache.memo(session, key, count_and_ids)
    rows = {d.id: d for d in session.scalars(select(Disclosure).where(Disclosure.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows], total


def _filters_key(filters: Filters) -> tuple:
    return (
        filters.category.id if filters.category else None,
        filters.unit.id if filters.unit else None,
        filters.period_key,
        filters.year,
        filters.include_sub_units,
    )


def period_keys_in_use(session: Session, reader: Reader) -> list[str]:
    def compute() -> list[str]:
        keys = session.scalars(
            select(Disclosure.period_key)
            .where(visible_clause(session, reader), Disclosure.period_key.is_not(None))
            .distinct()
        )
        return sorted((k for k in keys if k), reverse=True)

    return listing_cache.memo(session, ("period_keys", reader), compute)


def years_in_use(session: Session, reader: Reader) -> list[int]:
    def compute() -> list[int]:
        # Years in UTC, as the year filter counts them; worked out by the database, which
        # reads them from the listing index instead of sending every date to Python.
        published = Disclosure.published_at
        if session.get_bind().dialect.name == "postgresql":
            published = func.timezone("UTC", published)
        years = session.scalars(
            select(func.extract("year", published))
            .where(visible_clause(session, reader), Disclosure.published_at.is_not(None))
            .distinct()
        )
        return sorted({int(year) for year in years}, reverse=True)

    return listing_cache.memo(session, ("years", reader), compute)


# --- staff rights ---------------------------------------------------------------------------


def staff_covers_unit(staff: StaffUser, unit: Unit) -> bool:
    """A staff member works for their own unit and everything below it (all, without a unit)."""
    if staff.unit_id is None:
        return True
    return unit.id == staff.unit_id or any(a.id == staff.unit_id for a in unit.ancestors())


def units_for_staff(session: Session, staff: StaffUser) -> list[Unit]:
    units = list(session.scalars(select(Unit).order_by(Unit.code)))
    return [unit for unit in units if staff_covers_unit(staff, unit)]


def _record(
    session: Session,
    disclosure: Disclosure,
    action: str,
    actor: StaffUser | None,
    comment: str = "",
    at: datetime | None = None,
) -> None:
    session.add(
        DisclosureStep(
            disclosure=disclosure,
            action=action,
            actor=actor,
            comment=comment,
            at=at or utcnow(),
        )
    )


def _require_unit(staff: StaffUser, unit: Unit) -> None:
    if not staff_covers_unit(staff, unit):
        raise NotAllowed(_l("You can only work on disclosures of your own unit and its sub-units."))


def _claim(
    session: Session, disclosure: Disclosure, *conditions: ColumnElement[bool], **values: object
) -> bool:
    """Set ``values`` on the disclosure's row if it still meets ``conditions``; True if it did.

    One conditional UPDATE, made before the work that depends on the state: of two requests
    that race for the same step, exactly one changes the row. PostgreSQL makes the second
    wait for the first's row lock, then checks the conditions again; on SQLite this first
    write takes the database's write lock, so what the transaction reads next is the latest.
    The disclosure is read again afterwards: what was loaded before may already be old.
    """
    session.flush()
    changed = session.execute(
        update(Disclosure)
        .where(Disclosure.id == disclosure.id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(disclosure)
    return changed == 1


# --- the working copy -----------------------------------------------------------------------


@dataclass
class DraftFields:
    title: str
    body: str
    category: DisclosureCategory
    unit: Unit
    scope: Scope = Scope.everyone
    period_key: str | None = None
    scheduled_at: datetime | None = None


def is_one_line(text: str) -> bool:
    """No line break of any kind (``str.splitlines`` knows them all) inside ``text``."""
    return len(text.strip().splitlines()) <= 1


def _check_fields(fields: DraftFields) -> None:
    if not fields.title.strip():
        raise DisclosureError(_l("Enter a title."))
    if not is_one_line(fields.title):
        # A second line would end up in the indexed text and the search snippets.
        raise DisclosureError(_l("The title must be one line."))
    if len(fields.title) > TITLE_MAX or len(fields.body) > BODY_MAX:
        raise DisclosureError(_l("The title or the text is too long."))
    if not fields.category.active:
        raise DisclosureError(_l("Choose a category from the list."))
    if fields.period_key and not PERIOD_KEY_RE.match(fields.period_key):
        raise DisclosureError(_l("Write the period as 2026, 2026-H1, 2026-Q2 or 2026-05."))
    if fields.scheduled_at is not None:
        _check_year(fields.scheduled_at)


def _check_year(day: date | datetime) -> None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DisclosureError(
            _l("Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)
        )


def create_draft(session: Session, author: StaffUser, fields: DraftFields) -> Disclosure:
    """A new, unpublished disclosure in draft, owned by ``author``."""
    _require_unit(author, fields.unit)
    _check_fields(fields)
    disclosure = Disclosure(
        author_id=author.id,
        work_author_id=author.id,
        work_state=WorkState.draft,
        work_action=Action.publish,
        title=fields.title.strip(),
        body=fields.body,
        category=fields.category,
        unit=fields.unit,
        scope=fields.scope,
        period_key=fields.period_key or None,
        scheduled_at=fields.scheduled_at,
    )
    session.add(disclosure)
    _record(session, disclosure, "created", author)
    session.flush()
    return disclosure


def editable(disclosure: Disclosure) -> bool:
    return disclosure.work_state in (WorkState.draft, WorkState.returned)


def update_draft(
    session: Session,
    disclosure: Disclosure,
    actor: StaffUser,
    fields: DraftFields,
    reason: str = "",
) -> None:
    """Change the working copy while it is a draft or returned for changes.

    For an amendment only the title, the text and the reason change: the category, unit and
    audience of a published item stay as published.
    """
    if not editable(disclosure):
        raise WrongState(_l("Only a draft or a returned item can be edited."))
    _require_unit(actor, disclosure.unit)
    if disclosure.work_action == Action.publish:
        _require_unit(actor, fields.unit)
        _check_fields(fields)
        disclosure.category = fields.category
        disclosure.unit = fields.unit
        disclosure.scope = fields.scope
        disclosure.period_key = fields.period_key or None
        disclosure.scheduled_at = fields.scheduled_at
    else:
        fields.category = disclosure.category
        _check_fields(fields)
    if disclosure.work_action != Action.retract:
        disclosure.title = fields.title.strip()
        disclosure.body = fields.body
    disclosure.reason = reason
    _record(session, disclosure, "edited", actor)


def start_amendment(
    session: Session, disclosure: Disclosure, actor: StaffUser, reason: str = ""
) -> None:
    """Open a working copy of a published item, starting from its current text."""
    _start_change(session, disclosure, actor, Action.amend, reason)


def request_retraction(
    session: Session, disclosure: Disclosure, actor: StaffUser, reason: str
) -> None:
    """Ask for a published item to be retracted; an approver decides, as for any change."""
    if not reason.strip():
        raise DisclosureError(_l("Give the reason for the retraction."))
    _start_change(session, disclosure, actor, Action.retract, reason)
    disclosure.work_state = WorkState.in_review
    _record(session, disclosure, "submitted", actor)


def _check_no_change(disclosure: Disclosure) -> None:
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Only a published item can be amended or retracted."))
    if disclosure.work_state != WorkState.none:
        raise WrongState(_l("This item already has a change in progress."))


def _start_change(
    session: Session, disclosure: Disclosure, actor: StaffUser, action: Action, reason: str
) -> None:
    _check_no_change(disclosure)
    _require_unit(actor, disclosure.unit)
    if not _claim(
        session,
        disclosure,
        Disclosure.public_state == PublicState.published,
        Disclosure.work_state == WorkState.none,
        work_state=WorkState.draft,
    ):
        _check_no_change(disclosure)  # read again: says what another request just did
        raise WrongState(_l("This item already has a change in progress."))
    current = disclosure.revisions[-1]
    disclosure.title = current.title
    disclosure.body = current.body
    disclosure.reason = reason.strip()
    disclosure.work_action = action
    disclosure.work_author_id = actor.id
    _record(
        session,
        disclosure,
        "amendment started" if action == Action.amend else "retraction requested",
        actor,
        reason.strip(),
    )


def discard_change(
    session: Session, disclosure: Disclosure, actor: StaffUser, blobs: BlobStore
) -> None:
    """Drop a pending amendment or retraction with the files added to it (rows and blobs).

    The published page stays as it is, and so do the files its revisions list.
    """
    nothing_to_discard = _l("There is no change to discard.")
    if (
        disclosure.public_state == PublicState.unpublished
        or disclosure.work_state == WorkState.none
    ):
        raise WrongState(nothing_to_discard)
    _require_unit(actor, disclosure.unit)
    if not _claim(
        session,
        disclosure,
        Disclosure.public_state != PublicState.unpublished,
        Disclosure.work_state != WorkState.none,
        work_state=WorkState.none,
    ):
        raise WrongState(nothing_to_discard)
    for attachment in [a for a in disclosure.attachments if not a.published]:
        remove_attachment(session, blobs, attachment, actor)
    current = disclosure.revisions[-1]
    disclosure.title = current.title
    disclosure.body = current.body
    disclosure.reason = ""
    _record(session, disclosure, "discarded", actor)


def submit_for_review(session: Session, disclosure: Disclosure, actor: StaffUser) -> None:
    not_editable = _l("Only a draft or a returned item can be submitted.")
    if not editable(disclosure):
        raise WrongState(not_editable)
    _require_unit(actor, disclosure.unit)
    if not disclosure.title.strip():
        raise DisclosureError(_l("Enter a title."))
    if disclosure.work_action != Action.publish and not disclosure.reason.strip():
        raise DisclosureError(_l("Give the reason for the change."))
    if not _claim(
        session,
        disclosure,
        Disclosure.work_state.in_((WorkState.draft, WorkState.returned)),
        work_state=WorkState.in_review,
    ):
        raise WrongState(not_editable)
    _record(session, disclosure, "submitted", actor)


# Steps that put words into the working copy, and steps after which a new one begins.
_CONTENT_STEPS = (
    "created",
    "edited",
    "amendment started",
    "retraction requested",
    "imported",
    ATTACHMENT_ADDED,
    ATTACHMENT_REMOVED,
)
_WORKING_COPY_ENDS = ("approved", "discarded")


def contributors(session: Session, disclosure: Disclosure) -> set[int]:
    """Staff who wrote or changed the working copy since it was last approved or discarded.

    That is the author of each edit of the title or text, whoever started the amendment or
    retraction, and whoever attached a file to it or removed one from it.
    """
    ids = {disclosure.work_author_id} if disclosure.work_author_id else set()
    steps = session.execute(
        select(DisclosureStep.action, DisclosureStep.actor_id)
        .where(DisclosureStep.disclosure_id == disclosure.id)
        .order_by(DisclosureStep.id.desc())
    )
    for action, actor_id in steps:
        if action in _WORKING_COPY_ENDS:
            break
        if action in _CONTENT_STEPS and actor_id is not None:
            ids.add(actor_id)
    ids.update(
        a.uploaded_by_id
        for a in disclosure.attachments
        if not a.published and a.uploaded_by_id is not None
    )
    return ids


def may_review(session: Session, disclosure: Disclosure, approver: StaffUser) -> bool:
    """Nobody approves their own words: not an author or editor of what is to be published."""
    if disclosure.work_action == Action.publish and approver.id == disclosure.author_id:
        return False
    return approver.id not in contributors(session, disclosure)


_NOT_IN_REVIEW = _l("This item is not waiting for review.")
_OWN_WORK = _l("You cannot review your own work; another approver must do it.")


def _check_reviewer(session: Session, disclosure: Disclosure, approver: StaffUser) -> None:
    if disclosure.work_state != WorkState.in_review:
        raise WrongState(_NOT_IN_REVIEW)
    if not may_review(session, disclosure, approver):
        raise NotAllowed(_OWN_WORK)
    _require_unit(approver, disclosure.unit)


def _take_for_review(
    session: Session, disclosure: Disclosure, approver: StaffUser, decision: WorkState
) -> None:
    """Move an item waiting for review to ``decision``, or refuse if it no longer waits."""
    if not _claim(
        session, disclosure, Disclosure.work_state == WorkState.in_review, work_state=decision
    ):
        raise WrongState(_NOT_IN_REVIEW)
    # Asked again now that the item is held: whoever changed it just before it was submitted
    # again may be this approver.
    if not may_review(session, disclosure, approver):
        raise NotAllowed(_OWN_WORK)


def return_for_changes(
    session: Session, disclosure: Disclosure, approver: StaffUser, comment: str
) -> None:
    _check_reviewer(session, disclosure, approver)
    if not comment.strip():
        raise DisclosureError(_l("Say what should change."))
    _take_for_review(session, disclosure, approver, WorkState.returned)
    _record(session, disclosure, "returned", approver, comment.strip())


def approve(
    session: Session,
    disclosure: Disclosure,
    approver: StaffUser,
    comment: str = "",
    *,
    now: datetime | None = None,
) -> DisclosureRevision | None:
    """Approve the working copy: publish, amend or retract now, or schedule a first publication.

    Returns the new revision, or None when it was scheduled for later.
    """
    now = now or utcnow()
    _check_reviewer(session, disclosure, approver)
    later = _goes_out_later(disclosure, now)
    _take_for_review(
        session, disclosure, approver, WorkState.scheduled if later else WorkState.none
    )
    _record(session, disclosure, "approved", approver, comment.strip(), at=now)
    if _goes_out_later(disclosure, now):
        disclosure.work_state = WorkState.scheduled
        _record(session, disclosure, "scheduled", approver, at=now)
        return None
    return _apply(session, disclosure, approver, now)


def _goes_out_later(disclosure: Disclosure, now: datetime) -> bool:
    return (
        disclosure.work_action == Action.publish
        and disclosure.scheduled_at is not None
        and disclosure.scheduled_at > now
    )


def _apply(
    session: Session, disclosure: Disclosure, approver: StaffUser | None, at: datetime
) -> DisclosureRevision:
    if disclosure.work_action == Action.publish:
        return publish(session, disclosure, at=at, approver=approver)
    if disclosure.work_action == Action.amend:
        return amend(session, disclosure, at=at, approver=approver)
    return retract(session, disclosure, at=at, approver=approver)


def due_for_publication(
    session: Session, now: datetime | None = None, limit: int = 100
) -> list[int]:
    """Ids of approved items whose scheduled time has come (cheap: one indexed query)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Disclosure.id)
            .where(Disclosure.work_state == WorkState.scheduled, Disclosure.scheduled_at <= now)
            .order_by(Disclosure.scheduled_at, Disclosure.id)
            .limit(limit)
        )
    )


def publish_due(session: Session, now: datetime | None = None) -> list[DisclosureRevision]:
    """Publish every scheduled item whose time has come, each at its scheduled time.

    Safe to run from several processes at once: each item is claimed (scheduled -> none) in
    one conditional update before it is published, so exactly one of them publishes it; on
    PostgreSQL rows another process holds are skipped rather than waited for.
    """
    now = now or utcnow()
    published = []
    for disclosure_id in due_for_publication(session, now):
        query = select(Disclosure).where(Disclosure.id == disclosure_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        disclosure = session.scalar(query.execution_options(populate_existing=True))
        if disclosure is None or not _claim(
            session,
            disclosure,
            Disclosure.work_state == WorkState.scheduled,
            work_state=WorkState.none,
        ):
            continue
        approver_id = session.scalar(
            select(DisclosureStep.actor_id)
            .where(
                DisclosureStep.disclosure_id == disclosure.id, DisclosureStep.action == "approved"
            )
            .order_by(DisclosureStep.id.desc())
            .limit(1)
        )
        approver = session.get(StaffUser, approver_id) if approver_id else None
        at = disclosure.scheduled_at or now
        published.append(publish(session, disclosure, at=at, approver=approver))
    return published


# --- the public record: revisions and log leaves --------------------------------------------


def _second(at: datetime) -> datetime:
    # Whole seconds: the canonical record must read back the same on every database.
    return at.astimezone(UTC).replace(microsecond=0)


def _new_revision(
    session: Session,
    disclosure: Disclosure,
    action: Action,
    at: datetime,
    approver: StaffUser | None,
) -> DisclosureRevision:
    session.flush()  # the ids of the disclosure and of new attachments go into the record
    number = disclosure.revision_count + 1
    # The number is claimed before anything is read for the record: a request that read the
    # item before another one published it is refused here, and on SQLite the write lock is
    # held before the log's next index is read.
    if not _claim(
        session, disclosure, Disclosure.revision_count == number - 1, revision_count=number
    ):
        raise WrongState(_l("This item was changed at the same moment. Reload the page."))
    attachments = [[a.id, a.filename, a.sha256] for a in disclosure.attachments]
    revision = DisclosureRevision(
        disclosure_id=disclosure.id,
        number=number,
        action=action,
        title=disclosure.title.strip(),
        body=disclosure.body if action != Action.retract else "",
        reason=disclosure.reason.strip() if action != Action.publish else "",
        category_code=disclosure.category.code,
        unit_code=disclosure.unit.code,
        scope=disclosure.scope,
        period_key=disclosure.period_key,
        published_at=_second(at),
        attachments_json=json.dumps(attachments, ensure_ascii=False, separators=(",", ":")),
        author_id=disclosure.work_author_id,
        approver_id=approver.id if approver else None,
        log_index=-1,
        leaf_hash="",
    )
    for attachment in disclosure.attachments:
        attachment.published = True
    disclosure_log.append(session, revision)
    session.refresh(disclosure, ["revisions"])
    disclosure.revision_count = revision.number
    disclosure.work_state = WorkState.none
    disclosure.reason = ""
    _record(
        session,
        disclosure,
        {Action.publish: "published", Action.amend: "amended", Action.retract: "retracted"}[action],
        approver,
        at=revision.published_at,
    )
    return revision


def _refresh_public_copy(disclosure: Disclosure, revision: DisclosureRevision) -> None:
    disclosure.public_title = revision.title
    disclosure.search_text = f"{revision.title}\n{markdown_to_text(revision.body)}"
    search_index.refresh(disclosure)


def publish(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """First publication of ``disclosure``'s working copy at ``at`` (default: now).

    Importers pass the historical date as ``at``; the log records it in the leaf.
    """
    if disclosure.public_state != PublicState.unpublished:
        raise WrongState(_l("This item is published already."))
    at = at or utcnow()
    disclosure.work_action = Action.publish
    revision = _new_revision(session, disclosure, Action.publish, at, approver)
    disclosure.public_state = PublicState.published
    disclosure.published_at = revision.published_at
    _refresh_public_copy(disclosure, revision)
    return revision


def _check_change(disclosure: Disclosure, missing_reason: object) -> None:
    """An amendment or a retraction applies to a published item and carries its reason."""
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Only a published item can be amended or retracted."))
    if not disclosure.reason.strip():
        raise DisclosureError(missing_reason)


def amend(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """A new visible revision of a published item from the working copy (with its reason)."""
    _check_change(disclosure, _l("Give the reason for the change."))
    revision = _new_revision(session, disclosure, Action.amend, at or utcnow(), approver)
    disclosure.revised_at = revision.published_at
    _refresh_public_copy(disclosure, revision)
    return revision


def retract(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """Replace a published item by a retraction notice; its history stays readable."""
    _check_change(disclosure, _l("Give the reason for the retraction."))
    revision = _new_revision(session, disclosure, Action.retract, at or utcnow(), approver)
    disclosure.public_state = PublicState.retracted
    disclosure.retracted_at = revision.published_at
    disclosure.search_text = ""
    search_index.refresh(disclosure)
    return revision


def import_published(
    session: Session,
    fields: DraftFields,
    published_at: datetime,
    *,
    author: StaffUser | None = None,
    approver: StaffUser | None = None,
) -> Disclosure:
    """Create and publish an item at a given (historical) date, without the review steps."""
    _check_fields(fields)
    disclosure = Disclosure(
        author_id=author.id if author else None,
        work_author_id=author.id if author else None,
        work_state=WorkState.draft,
        work_action=Action.publish,
        title=fields.title.strip(),
        body=fields.body,
        category=fields.category,
        unit=fields.unit,
        scope=fields.scope,
        period_key=fields.period_key or None,
    )
    session.add(disclosure)
    _record(session, disclosure, "imported", author, at=_second(published_at))
    session.flush()
    publish(session, disclosure, at=published_at, approver=approver)
    return disclosure


def revision_attachment_ids(revision: DisclosureRevision) -> list[int]:
    return [row[0] for row in json.loads(revision.attachments_json or "[]")]


# --- console listings -----------------------------------------------------------------------


def work_queue(session: Session, staff: StaffUser) -> dict[str, list[Disclosure]]:
    """What the console shows a publisher or approver, grouped by where it stands."""
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.work_state != WorkState.none)
        .order_by(Disclosure.created_at.desc(), Disclosure.id.desc())
    )
    groups: dict[str, list[Disclosure]] = {
        "draft": [],
        "in_review": [],
        "returned": [],
        "scheduled": [],
    }
    for disclosure in rows:
        if staff_covers_unit(staff, disclosure.unit):
            groups[disclosure.work_state.value].append(disclosure)
    return groups


def recent_published(session: Session, staff: StaffUser, limit: int = 50) -> list[Disclosure]:
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.public_state != PublicState.unpublished)
        .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
        .limit(limit * 4)
    )
    return [d for d in rows if staff_covers_unit(staff, d.unit)][:limit]


# --- catalogue and overdue items -----------------------------------------------------------


@dataclass
class CatalogueStatus:
    entry: CatalogueEntry
    published: dict[str, int] = field(default_factory=dict)  # period key -> disclosure id
    overdue: list[tuple[str, date]] = field(default_factory=list)  # (period key, due date)
    next_due: tuple[str, date] | None = None


def catalogue_status(
    session: Session,
    today: date,
    *,
    unit: Unit | None = None,
    reader: Reader | None = None,
    entries: Sequence[CatalogueEntry] | None = None,
) -> list[CatalogueStatus]:
    """Each catalogue entry with what was published for its periods and what is overdue.

    With a ``reader``, entries whose audience excludes them are left out altogether, and so
    are items the reader may not see: the public page neither lists nor counts them.
    """
    if entries is None:
        query = select(CatalogueEntry).where(CatalogueEntry.active.is_(True))
        if unit is not None:
            query = query.where(CatalogueEntry.unit_id == unit.id)
        if reader is not None:
            query = query.where(
                scope_clause(session, reader, CatalogueEntry.scope, CatalogueEntry.unit_id)
            )
        entries = list(session.scalars(query.order_by(CatalogueEntry.unit_id, CatalogueEntry.id)))
    result = []
    for entry in entries:
        status = CatalogueStatus(entry)
        keys = periods_between(entry.period, entry.starts_on, today)
        query = select(Disclosure.period_key, Disclosure.id).where(
            Disclosure.category_id == entry.category_id,
            Disclosure.unit_id == entry.unit_id,
            Disclosure.public_state == PublicState.published,
            Disclosure.period_key.in_(keys) if keys else false(),
        )
        if reader is not None:
            # An item the reader may not see is neither linked nor counted for them, even
            # under an entry they may see.
            query = query.where(scope_clause(session, reader))
        published = session.execute(query)
        status.published = {key: disclosure_id for key, disclosure_id in published}
        for key in keys:
            _start, end = period_range(key)
            due = end + timedelta(days=entry.due_days)
            if key in status.published:
                continue
            if due < today:
                status.overdue.append((key, due))
            elif status.next_due is None:
                status.next_due = (key, due)
        if status.next_due is None:
            key = period_key(entry.period, today)
            status.next_due = (key, period_range(key)[1] + timedelta(days=entry.due_days))
        result.append(status)
    return result


def add_catalogue_entry(
    session: Session,
    category: DisclosureCategory,
    unit: Unit,
    period: Period,
    due_days: int,
    starts_on: date,
    scope: Scope = Scope.everyone,
) -> CatalogueEntry:
    existing = session.scalar(
        select(CatalogueEntry).where(
            CatalogueEntry.category_id == category.id, CatalogueEntry.unit_id == unit.id
        )
    )
    if existing is not None:
        raise DisclosureError(_l("This unit already has a catalogue entry for this category."))
    if not 0 <= due_days <= 366:
        raise DisclosureError(_l("Days until due must be between 0 and 366."))
    _check_year(starts_on)
    entry = CatalogueEntry(
        category=category,
        unit=unit,
        period=period,
        due_days=due_days,
        starts_on=starts_on,
        scope=scope,
    )
    session.add(entry)
    session.flush()
    return entry


# --- questions ------------------------------------------------------------------------------


def ask_question(
    session: Session, disclosure: Disclosure, body: str, today: date
) -> DisclosureQuestion:
    """Store a worker's question: the text and the date, nothing about who asked or when."""
    body = body.strip()
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Questions can only be asked about a published item."))
    if not QUESTION_MIN <= len(body) <= QUESTION_MAX:
        raise DisclosureError(
            _l("Write between %(min)s and %(max)s characters.", min=QUESTION_MIN, max=QUESTION_MAX)
        )
    question = DisclosureQuestion(disclosure=disclosure, body=body, asked_on=today)
    session.add(question)
    session.flush()
    return question


def pending_questions(session: Session, staff: StaffUser) -> list[DisclosureQuestion]:
    rows = session.scalars(
        select(DisclosureQuestion)
        .where(DisclosureQuestion.state == QuestionState.pending)
        .order_by(DisclosureQuestion.id)
    )
    return [q for q in rows if staff_covers_unit(staff, q.disclosure.unit)]


def answer_question(
    session: Session, question: DisclosureQuestion, staff: StaffUser, answer: str, today: date
) -> None:
    """Publish a question, with an answer when one is given."""
    _require_unit(staff, question.disclosure.unit)
    if len(answer) > QUESTION_MAX * 5:
        raise DisclosureError(_l("The answer is too long."))
    question.answer = answer.strip()
    question.state = QuestionState.published
    question.answered_by_id = staff.id
    question.answered_on = today


def reject_question(session: Session, question: DisclosureQuestion, staff: StaffUser) -> None:
    _require_unit(staff, question.disclosure.unit)
    question.state = QuestionState.rejected
    question.answered_by_id = staff.id


def published_questions(session: Session, disclosure: Disclosure) -> list[DisclosureQuestion]:
    return list(
        session.scalars(
            select(DisclosureQuestion)
            .where(
                DisclosureQuestion.disclosure_id == disclosure.id,
                DisclosureQuestion.state == QuestionState.published,
            )
            .order_by(DisclosureQuestion.id)
        )
    )


def steps_of(disclosures: Iterable[Disclosure]) -> dict[int, list[DisclosureStep]]:
    return {d.id: list(d.steps) for d in disclosures}
