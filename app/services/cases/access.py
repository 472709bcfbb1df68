"""Who reads a case, changed after it arrived: a grant to a colleague, a recusal, a transfer to
the office above, and a re-grant with the office's recovery key.

Each change is the same two steps. First the case's readers change (``report_readers``, and
the rows of ``app/models/case_access.py`` that must outlive the change). Then every file of the
case gets a new header for exactly the recipients it must have now (``case_files``), opened
with a key that reads it today; no payload is read or written, so every blob stays the same
byte for byte. Who must read what:

- every file: the case's readers (active, with a key, neither kept out by the reporter nor
  recused) and the recovery key of the office that has the case;
- the real-name block: of the readers, the office heads only;
- the thread (every message's text and files): the reporter as well, always;
- the report's own text and files: the reporter as well when ``report.reporter_copy`` is set;
- the internal notes (``case_notes``: header there, payload in the blob store, as a report's
  files) and any other file of the case with a role of its own: the office only, never the
  reporter.

A recipient left out of a new header can no longer open the file from the server; what they
read or saved before stays with them. Two changes of one case at the same time are made one
after the other: each first claims the report's row (a conditional UPDATE: PostgreSQL's row
lock, SQLite's write lock) and only then reads the readers and the headers, so neither can
write headers made from what the other is replacing.

Refusals are ``AccessRefused`` with a message for the person who tried (translated lazily),
never a word of a recovery share.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from app.models import (
    CaseNote,
    CaseRecusal,
    CaseTransfer,
    DisciplineOffice,
    EnvelopeRole,
    ReaderRole,
    Report,
    ReportEnvelope,
    ReportExclusion,
    ReportMessage,
    ReportReader,
    Role,
    StaffUser,
)
from app.models.inbox import mark_stale
from app.services.audit import AuditAction, record
from app.services.cases.changes import claim_case
from app.services.recovery import RecoveryError, recover_office_identity
from app.services.reports import envelopes, places
from app.services.reports.places import Misplaced, Place
from app.services.reports.recipients import office_keys, parse_key
from crypto.errors import CryptoError, NoIdentityMatch
from crypto.keys import Identity, X25519Recipient

READER_ROLES = (Role.inspector, Role.office_head)


class AccessRefused(Exception):
    """A change of who reads a case was refused; ``message`` is for the person who tried
    (translated when shown, in the request's language)."""

    def __init__(self, message: object) -> None:
        super().__init__()
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


class NotAReader(AccessRefused):
    """The one acting does not read the case (or may not do this to it)."""


class CannotRead(AccessRefused):
    """The one to be given the case may not read it: kept out by the reporter, recused, not of
    the case's office, not an inspector or head, disabled, or without a key."""


class KeysDoNotOpen(AccessRefused):
    """A file of the case does not open with the keys given (or is not where it belongs)."""

    def __init__(self, message: object, place: Place) -> None:
        super().__init__(message)
        self.place = place


class NoOfficeAbove(AccessRefused):
    """A transfer upward from an office with none above it that could take the case."""


class RecoveryRefused(AccessRefused):
    """The typed shares do not recover the office's key; ``reason`` and ``details`` as in
    ``RecoveryError`` (numbers only, never a word typed)."""

    def __init__(self, message: object, reason: str, details: dict[str, int]) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


# --- who must read what ----------------------------------------------------------------------


class Audience(enum.StrEnum):
    """Who a file of a case is for, besides nobody else."""

    office = "office"  # the readers and the recovery key
    heads = "heads"  # the office heads among the readers and the recovery key
    office_and_reporter = "office_and_reporter"  # and the reporter
    report_copy = "report_copy"  # and the reporter if ``report.reporter_copy``


CaseFileRow = ReportEnvelope | CaseNote  # a row that holds a file's header


def audience(envelope: CaseFileRow) -> Audience:
    """Who ``envelope``'s file is for (see the module's docstring)."""
    if isinstance(envelope, CaseNote):
        return Audience.office
    if envelope.message_id is not None:
        return Audience.office_and_reporter
    if envelope.role == EnvelopeRole.identity:
        return Audience.heads
    if envelope.role in (EnvelopeRole.text, EnvelopeRole.attachment):
        return Audience.report_copy
    return Audience.office  # a file of the office's own (notes): never the reporter's


@dataclass(frozen=True)
class CaseReaders:
    """The keys a case's files go to now."""

    readers: dict[int, X25519Recipient]  # staff id -> key, by id
    heads: dict[int, X25519Recipient]
    recovery: X25519Recipient
    reporter: X25519Recipient

    def for_audience(self, who: Audience, reporter_copy: bool) -> tuple[X25519Recipient, ...]:
        staff = self.heads if who == Audience.heads else self.readers
        keys = [*(staff[i] for i in sorted(staff)), self.recovery]
        if who == Audience.office_and_reporter or (who == Audience.report_copy and reporter_copy):
            keys.append(self.reporter)
        return tuple(keys)


@dataclass(frozen=True)
class CaseFile:
    """One file of a case and the recipients its header must have."""

    envelope: CaseFileRow  # a report's file (``report_envelopes``) or a note (``case_notes``)
    place: Place
    audience: Audience
    recipients: tuple[X25519Recipient, ...]


def kept_out(session: Session, report: Report) -> set[int]:
    """Staff who must never read ``report``: kept out by the reporter, or recused."""
    excluded = select(ReportExclusion.staff_id).where(ReportExclusion.report_id == report.id)
    recused = select(CaseRecusal.staff_id).where(CaseRecusal.report_id == report.id)
    return set(session.scalars(excluded)) | set(session.scalars(recused))


def case_readers(session: Session, report: Report) -> CaseReaders:
    """The readers of ``report`` that its files go to: active, with a key that parses, and not
    kept out (even were a row of readers to name one: the exclusions win)."""
    never = kept_out(session, report)
    rows = session.execute(
        select(ReportReader.staff_id, ReportReader.role, StaffUser.age_recipient)
        .join(StaffUser, StaffUser.id == ReportReader.staff_id)
        .where(ReportReader.report_id == report.id, StaffUser.active.is_(True))
        .order_by(ReportReader.staff_id)
    )
    readers: dict[int, X25519Recipient] = {}
    heads: dict[int, X25519Recipient] = {}
    for staff_id, role, text in rows:
        key = parse_key(text)
        if key is None or staff_id in never:
            continue
        readers[staff_id] = key
        if role == ReaderRole.office_head:
            heads[staff_id] = key
    recovery = parse_key(report.office.recovery_recipient)
    if recovery is None:
        raise AccessRefused(
            _l(
                "The office that has this case has no recovery key, and every file of a case "
                "must keep one. Ask an administrator to hold the recovery key ceremony first."
            )
        )
    return CaseReaders(readers, heads, recovery, X25519Recipient.parse(report.reporter_recipient))


def case_envelopes(session: Session, report: Report) -> list[ReportEnvelope]:
    """Every file of ``report``, read anew from the database: the report's own, then each
    message's, in order."""
    return list(
        session.scalars(
            select(ReportEnvelope)
            .outerjoin(ReportMessage, ReportMessage.id == ReportEnvelope.message_id)
            .where(ReportEnvelope.report_id == report.id)
            .order_by(ReportMessage.seq.nulls_first(), ReportEnvelope.role, ReportEnvelope.position)
            .execution_options(populate_existing=True)
        )
    )


def case_notes(session: Session, report: Report) -> list[CaseNote]:
    """The internal notes of ``report`` in order, read anew from the database."""
    return list(
        session.scalars(
            select(CaseNote)
            .where(CaseNote.report_id == report.id)
            .order_by(CaseNote.seq)
            .execution_options(populate_existing=True)
        )
    )


def case_files(session: Session, report: Report) -> list[CaseFile]:
    """Every file of ``report`` with the recipients its header must have now: the report's
    and the thread's, then the internal notes.

    The one list that grants, recusals, transfers, re-grants and exports work from.
    """
    readers = case_readers(session, report)
    files = []
    rows: list[CaseFileRow] = [*case_envelopes(session, report), *case_notes(session, report)]
    for envelope in rows:
        who = audience(envelope)
        recipients = readers.for_audience(who, report.reporter_copy)
        files.append(CaseFile(envelope, places.of_row(envelope), who, recipients))
    return files


def _claim(session: Session, report: Report) -> None:
    """Take the case for this transaction before reading its readers and headers."""
    claim_case(session, report)


def describe(place: Place) -> object:
    """A file of a case in words, for a message."""
    if place.role == EnvelopeRole.attachment:
        if place.message:
            return _l(
                "file %(number)s of message %(message)s",
                number=place.position + 1,
                message=place.message,
            )
        return _l("file %(number)s of the report", number=place.position + 1)
    if place.role == EnvelopeRole.identity:
        return _l("the real-name block")
    if place.role == EnvelopeRole.text:
        if place.message:
            return _l("message %(message)s", message=place.message)
        return _l("the report's text")
    if place.role == EnvelopeRole.note:
        return _l("internal note %(number)s", number=place.position)
    return _l("a file of the office (%(role)s)", role=place.role.value)


def _keys(recipients: Sequence[X25519Recipient]) -> frozenset[str]:
    return frozenset(map(str, recipients))


def _rewrite_headers(
    session: Session,
    report: Report,
    identities: Sequence[Identity],
    before: CaseReaders,
) -> int:
    """Give every file of the case the header ``case_files`` says, opened with ``identities``.

    A file whose recipients this change alters (``before`` are the case's readers as they
    were, less anyone the change must give every file again) must open with these keys, or
    the whole change is refused (KeysDoNotOpen) and nothing is half done: all headers are made
    before any is stored. A file it leaves alone is rewritten too when these keys open it (so
    it follows, say, a recovery key made anew), and kept as it is when they do not: an
    inspector's grant never needs the real-name block, which only heads read. Returns the
    number of files rewritten.
    """
    session.flush()
    files = case_files(session, report)
    headers: dict[int, bytes] = {}  # index in ``files`` -> new header
    for index, item in enumerate(files):
        changed = _keys(item.recipients) != _keys(
            before.for_audience(item.audience, report.reporter_copy)
        )
        try:
            places.check(item.envelope)
            headers[index] = envelopes.rewrap(item.envelope.header, identities, item.recipients)
        except NoIdentityMatch:
            if not changed:
                continue
            raise KeysDoNotOpen(
                _l(
                    "Your key does not open %(file)s of this case, so this change cannot be "
                    "made with it. A colleague who reads the whole case (for the real-name "
                    "block, an office head), or the office's recovery key, can make it.",
                    file=describe(item.place),
                ),
                item.place,
            ) from None
        except (Misplaced, CryptoError):
            raise KeysDoNotOpen(
                _l(
                    "A file of this case (%(file)s) is damaged or not where it belongs; access "
                    "was not changed. Ask an administrator to run: portal reports fsck",
                    file=describe(item.place),
                ),
                item.place,
            ) from None
    for index, item in enumerate(files):
        if index in headers:
            item.envelope.header = headers[index]
    session.flush()
    return len(headers)


def _without(readers: CaseReaders, staff_id: int) -> CaseReaders:
    """``readers`` as if ``staff_id`` read nothing (so that every file of theirs is made anew)."""
    return replace(
        readers,
        readers={i: k for i, k in readers.readers.items() if i != staff_id},
        heads={i: k for i, k in readers.heads.items() if i != staff_id},
    )


# --- who may read ----------------------------------------------------------------------------


def _reader_row(session: Session, report: Report, staff: StaffUser) -> ReportReader | None:
    return session.get(ReportReader, (report.id, staff.id), populate_existing=True)


def require_reader(session: Session, report: Report, staff: StaffUser) -> ReportReader:
    """The row that makes ``staff`` a reader of ``report``; NotAReader if there is none (or
    they are disabled, kept out or recused)."""
    row = _reader_row(session, report, staff)
    if row is None or not staff.active or staff.id in kept_out(session, report):
        raise NotAReader(_l("Only a reader of this case can do this."))
    return row


def check_can_read(session: Session, report: Report, staff: StaffUser) -> ReaderRole:
    """The role ``staff`` would read ``report`` in; CannotRead saying why they may not."""
    name = staff.display_name
    if session.get(ReportExclusion, (report.id, staff.id)) is not None:
        raise CannotRead(
            _l(
                "%(name)s was kept out of this case by the reporter and can never be given it.",
                name=name,
            )
        )
    if session.get(CaseRecusal, (report.id, staff.id)) is not None:
        raise CannotRead(
            _l(
                "%(name)s declared a conflict of interest in this case and can never be "
                "given it again.",
                name=name,
            )
        )
    if staff.office_id != report.office_id:
        raise CannotRead(
            _l("%(name)s is not a member of the office that has this case.", name=name)
        )
    if not staff.has_role(*READER_ROLES):
        raise CannotRead(
            _l(
                "%(name)s is neither an inspector nor an office head: only they read cases.",
                name=name,
            )
        )
    if not staff.active:
        raise CannotRead(_l("The account of %(name)s is disabled.", name=name))
    if parse_key(staff.age_recipient) is None:
        raise CannotRead(
            _l(
                "%(name)s has no key yet: they get one when they first sign in and choose "
                "their password. Grant the case after that.",
                name=name,
            )
        )
    return ReaderRole.office_head if staff.has_role(Role.office_head) else ReaderRole.inspector


def _add_reader(session: Session, report: Report, staff: StaffUser, role: ReaderRole) -> bool:
    """Make ``staff`` a reader in ``role``; True if they were none before."""
    row = _reader_row(session, report, staff)
    if row is None:
        session.add(ReportReader(report_id=report.id, staff_id=staff.id, role=role))
        return True
    row.role = role
    return False


# --- the changes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Granted:
    """What a grant did: ``added`` False means the grantee read the case already and its files
    were made anew for their key (after a new key, for example)."""

    report_id: str
    grantee_id: int
    role: ReaderRole
    added: bool
    files: int


def grant(
    session: Session,
    report: Report,
    identities: Sequence[Identity],
    granter: StaffUser,
    grantee: StaffUser,
) -> Granted:
    """Give ``grantee`` every file of the case (the real-name block only if a head), by a new
    header for each, opened with ``identities`` (the granter's unsealed keys).

    Refused: a granter who does not read the case (NotAReader), a grantee who may not read it
    (CannotRead), keys that do not open a file (KeysDoNotOpen). Flushed, not committed.
    """
    _claim(session, report)
    require_reader(session, report, granter)
    role = check_can_read(session, report, grantee)
    before = _without(case_readers(session, report), grantee.id)
    added = _add_reader(session, report, grantee, role)
    files = _rewrite_headers(session, report, identities, before)
    detail = f"as {role.value}" + ("" if added else ", files made anew for their key")
    record(
        session, AuditAction.grant, actor=granter, case_id=report.id, subject=grantee, detail=detail
    )
    return Granted(report.id, grantee.id, role, added, files)


def recuse(
    session: Session,
    report: Report,
    identities: Sequence[Identity],
    inspector: StaffUser,
    today: date,
) -> int:
    """``inspector`` declares a conflict of interest: they are removed from every header of
    the case and recorded, so that no later grant gives it back. Returns the number of files.

    Refused when they do not read the case, or would leave nobody of the office to read it
    (a colleague must be granted it first). Flushed, not committed.
    """
    _claim(session, report)
    row = require_reader(session, report, inspector)
    before = case_readers(session, report)
    others = set(before.readers) - {inspector.id}
    if not others:
        raise AccessRefused(
            _l(
                "Nobody else in the office reads this case. Grant it to a colleague first, "
                "then declare your conflict of interest."
            )
        )
    session.delete(row)
    session.add(CaseRecusal(report_id=report.id, staff_id=inspector.id, recused_on=today))
    files = _rewrite_headers(session, report, identities, before)
    detail = ""
    if report.case is not None and report.case.assignee_id == inspector.id:
        # Nobody handles it now: it shows as unassigned, for the head to give to another.
        report.case.assignee_id = None
        detail = "assignment ended"
    record(
        session, AuditAction.recusal, actor=inspector, case_id=report.id, detail=detail, on=today
    )
    return files


def office_above(session: Session, report: Report, never: Collection[int]) -> DisciplineOffice:
    """The nearest office above the case's that can take it (a recovery key and an inspector
    with a key, nobody of it kept out); NoOfficeAbove if none."""
    start = report.office.unit.parent
    above = [] if start is None else [start, *start.ancestors()]
    offices = [unit.office for unit in above if unit.office is not None]
    if not offices:
        raise NoOfficeAbove(
            _l(
                "%(office)s has no office above it: a case cannot be transferred upward from here.",
                office=report.office.name_zh,
            )
        )
    for office in offices:
        keys = office_keys(session, office)
        if keys.usable(keys.applicable(never)):
            return office
    raise NoOfficeAbove(
        _l(
            "No office above can take this case now (none has a recovery key and an inspector "
            "with a key who was not kept out of it)."
        )
    )


def transfer_up(
    session: Session,
    report: Report,
    identities: Sequence[Identity],
    actor: StaffUser,
    today: date,
) -> CaseTransfer:
    """Pass the case to the office above: that office's readers and recovery key replace this
    office's in every header, this office loses access and keeps one line (``CaseTransfer``).

    Only an office head who reads the case may do it. The office above is the nearest one
    that can take the case (as routing passes over an office that cannot). Refused from an
    office with none above it (the group's), NoOfficeAbove. Flushed, not committed.
    """
    _claim(session, report)
    require_reader(session, report, actor)
    if not actor.has_role(Role.office_head):
        raise NotAReader(_l("Only a head of the office can transfer a case upward."))
    never = kept_out(session, report)
    before = case_readers(session, report)
    lower = report.office
    target = office_above(session, report, never)
    keys = office_keys(session, target)
    readers, heads = keys.readers(never), keys.identity_readers(never)
    session.execute(delete(ReportReader).where(ReportReader.report_id == report.id))
    mark_stale(session, report.id)
    session.expire(report, ["readers"])
    for staff_id in sorted(readers):
        role = ReaderRole.office_head if staff_id in heads else ReaderRole.inspector
        session.add(ReportReader(report_id=report.id, staff_id=staff_id, role=role))
    report.office = target
    if report.case is not None:
        report.case.assignee_id = None  # the office above assigns it to one of its own
    line = CaseTransfer(
        report_id=report.id,
        from_office_id=lower.id,
        to_office_id=target.id,
        transferred_on=today,
        by_staff_id=actor.id,
    )
    session.add(line)
    _rewrite_headers(session, report, identities, before)
    detail = f"from office {lower.unit.code} to office {target.unit.code}"
    record(session, AuditAction.transfer, actor=actor, case_id=report.id, detail=detail, on=today)
    return line


@dataclass(frozen=True)
class TransferLine:
    """What an office that passed a case up still sees of it."""

    report_id: str
    to_office: DisciplineOffice
    transferred_on: date


def transferred_from(
    session: Session, office: DisciplineOffice | int, viewer: StaffUser | None = None
) -> list[TransferLine]:
    """The cases ``office`` passed up, newest first: the one line its inbox shows of each;
    to ``viewer``, not those the reporter kept them out of or they recused themselves from
    (the line names the case and where it went)."""
    office_id = office if isinstance(office, int) else office.id
    query = select(CaseTransfer).where(CaseTransfer.from_office_id == office_id)
    if viewer is not None:
        query = query.where(
            ~exists().where(
                ReportExclusion.report_id == CaseTransfer.report_id,
                ReportExclusion.staff_id == viewer.id,
            ),
            ~exists().where(
                CaseRecusal.report_id == CaseTransfer.report_id,
                CaseRecusal.staff_id == viewer.id,
            ),
        )
    rows = session.scalars(
        query.order_by(CaseTransfer.transferred_on.desc(), CaseTransfer.report_id)
    )
    return [TransferLine(row.report_id, row.to_office, row.transferred_on) for row in rows]


# --- re-grant with the recovery key -----------------------------------------------------------


def recovery_message(error: RecoveryError, office: DisciplineOffice) -> object:
    """The refusal of a recovery in the page's language: numbers only, never a word."""
    values = {
        key: error.details.get(key) for key in ("share", "position", "other", "needed", "entered")
    }
    reason = error.reason
    if reason == "no_recovery_key":
        return _l("This office has no recovery key.")
    if reason == "too_many":
        return _l("%(entered)s shares were entered; a set has at most %(needed)s.", **values)
    if reason == "too_few":
        return _l(
            "The recovery key needs %(needed)s shares and %(entered)s were entered. Enter the "
            "missing shares.",
            **values,
        )
    if reason == "none":
        return _l("Enter the shares.")
    if reason == "foreign":
        return _l(
            "Share %(share)s is not a share of the recovery key of %(office)s (it belongs to "
            "another office, or to a set replaced since). Use this office's shares.",
            office=office.name_zh,
            **values,
        )
    if reason == "not_a_word":
        return _l(
            "Share %(share)s, word %(position)s is not a recovery word. Check its spelling.",
            **values,
        )
    if reason == "word_count":
        return _l(
            "Share %(share)s has %(entered)s words, but a share has 20 or 33. Check that no "
            "word is missing or repeated.",
            **values,
        )
    if reason == "checksum":
        return _l(
            "Share %(share)s does not check out: a word is mistyped or in the wrong place. "
            "Compare it with the paper sheet.",
            **values,
        )
    if reason == "other_set":
        return _l(
            "Share %(share)s belongs to another set than the shares before it. Use the shares "
            "of one set only.",
            **values,
        )
    if reason == "duplicate":
        return _l("Share %(share)s is the same as share %(other)s. Enter another share.", **values)
    # do_not_fit, not_a_key, wrong_key: the shares combine, but to no key of this office.
    return _l(
        "These shares do not recover the recovery key of %(office)s. Check that every share "
        "is of this office and typed as on its sheet.",
        office=office.name_zh,
    )


@dataclass(frozen=True)
class Regranted:
    """What a re-grant by the recovery key did."""

    office_id: int
    grantee_id: int
    report_ids: tuple[str, ...]
    participants: tuple[int, ...]  # staff ids of the officers who typed their shares


def regrant_by_recovery(
    session: Session,
    office: DisciplineOffice,
    typed_shares: Sequence[str],
    cases: Sequence[Report],
    grantee: StaffUser,
    participants: Sequence[StaffUser],
) -> Regranted:
    """K officers' shares recover ``office``'s recovery key, which re-opens ``cases`` for
    ``grantee`` (after a password reset, say: their new key gets every file of each case).

    ``participants`` are the officers who typed their shares: at least as many distinct
    active members of the office as the key needs shares (no one person re-opens cases with
    shares gathered from others), each recorded in the audit trail for each case.

    The recovered key lives in this call only and is never stored. Refused with
    RecoveryRefused (wrong, foreign or too few shares; the message names the share and word
    by number, never a word), AccessRefused (a case of another office, too few
    participants), CannotRead (the grantee), KeysDoNotOpen (a file not encrypted to this
    recovery key: made before a new ceremony). All cases or none. Flushed, not committed.
    """
    if not cases:
        raise AccessRefused(_l("Choose at least one case to re-open."))
    for report in cases:
        if report.office_id != office.id:
            raise AccessRefused(
                _l("A chosen case is not a case of %(office)s.", office=office.name_zh)
            )
    officers = {p.id: p for p in participants if p.active and p.office_id == office.id}
    needed = office.recovery_threshold or 0
    if len(officers) < needed:
        raise AccessRefused(
            _l(
                "The recovery key needs %(needed)s officers of the office, each typing their "
                "own share; %(count)s took part.",
                needed=needed,
                count=len(officers),
            )
        )
    try:
        recovered = recover_office_identity(office, typed_shares)
    except RecoveryError as refused:
        raise RecoveryRefused(
            recovery_message(refused, office), refused.reason, dict(refused.details)
        ) from None
    try:
        done = []
        for report in sorted(cases, key=lambda r: r.id):  # one order: no two re-grants deadlock
            _claim(session, report)
            if report.office_id != office.id:  # transferred away meanwhile
                raise AccessRefused(
                    _l("A chosen case is not a case of %(office)s.", office=office.name_zh)
                )
            role = check_can_read(session, report, grantee)
            before = _without(case_readers(session, report), grantee.id)
            _add_reader(session, report, grantee, role)
            _rewrite_headers(session, report, [recovered], before)
            done.append(report.id)
    finally:
        del recovered
    detail = f"re-grant by {len(officers)} officers of office {office.unit.code}"
    for report_id in done:
        for officer_id in sorted(officers):
            record(
                session,
                AuditAction.recovery,
                actor=officers[officer_id],
                case_id=report_id,
                subject=grantee,
                detail=detail,
            )
    return Regranted(office.id, grantee.id, tuple(done), tuple(sorted(officers)))
