"""Taking a report in: check the fields, route it on the server, encrypt it, draw its receipt.

A form says which unit and which level of person a report is about; the office and the
readers follow from that here (routing.py), never from the form: the office's inspectors and
heads read the text, the files and the thread, its heads alone the reporter's name and
contact, and its recovery key all of it (recipients.py). A reporter who keeps a copy
(``reporter_copy``, the form's default) reads the text and the files with the receipt's key
too; the name and contact never. The only say a reporter has over
readers is to keep out inspectors or heads; keeping out a head sends the report to the office
above. Ids that name nobody of the offices on its way are ignored (see routing.py for why
they are not refused).

Everything is one transaction, committed durably before ``submit`` returns: a receipt shown
to a reporter is a report that is kept. ``submit`` owns the uploads it is given: whatever
goes wrong, their blobs and any it wrote are deleted and nothing is stored. A caller that
checks something of its own before storing (the public site's budget) gives ``submit`` what
``check_and_route`` returned, so that each report is checked and routed once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.models import (
    EnvelopeRole,
    ReaderRole,
    Report,
    ReportExclusion,
    ReportKind,
    ReportReader,
    ReportStatus,
    SubjectLevel,
    Unit,
)
from app.models.reports import new_id
from app.services import units
from app.services.blobs import BlobStore
from app.services.cases.deadlines import DeadlineRules, new_case
from app.services.reports import categories
from app.services.reports.contents import (
    AttachmentInfo,
    identity_document,
    report_document,
)
from app.services.reports.durability import commit_durably, prepare_durable_commit
from app.services.reports.envelopes import (
    SealedPayload,
    delete_blobs,
    new_envelope,
    seal_payload,
)
from app.services.reports.errors import ReportInvalid
from app.services.reports.routing import Route, route_report
from app.services.reports.uploads import Upload
from crypto.keys import X25519Recipient
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions, derive_receipt, new_receipt_code

# Characters, after line breaks are made "\n" and the ends trimmed. The web form's fields
# (their validators and maxlength) and the form it hands back are cut to these.
TEXT_LIMITS = {
    "persons": 1_000,
    "what": 20_000,
    "when": 200,
    "where": 200,
    "witnesses": 1_000,
    "real_name": 100,
    "contact": 200,
}
REQUIRED = ("what",)
MAX_UNIT_CODE = 32  # characters, as the column units.code
MAX_EXCLUDED = 50
MAX_STAFF_ID = 2**63 - 1
MAX_CODE_DRAWS = 8  # a clash of 20 random digits is already next to impossible
# Kept out of the report's text: they go, if given, in the real-name block for the heads.
IDENTITY_FIELDS = ("real_name", "contact")
E = TypeVar("E", bound=Enum)


@dataclass
class ReportFields:
    """What a reporter sends, as the service takes it (the web form is app/public/reports/forms.py).

    ``real_name`` empty means anonymous; ``excluded`` are staff ids.
    """

    kind: str
    category: str
    unit_code: str
    level: str
    persons: str = ""
    what: str = ""
    when: str = ""
    where: str = ""
    witnesses: str = ""
    real_name: str = ""
    contact: str = ""
    excluded: list[int | str] = field(default_factory=list)
    # The reporter's choice to keep a copy: the text and files encrypted to the receipt's key
    # too, so that the code alone shows what was sent (never the name and contact).
    reporter_copy: bool = False


@dataclass(frozen=True)
class CheckedFields:
    unit: Unit
    kind: ReportKind
    category: str  # the code of a category offered when the report was checked
    level: SubjectLevel
    texts: dict[str, str]
    excluded: frozenset[int]
    reporter_copy: bool = False


@dataclass(frozen=True)
class Submitted:
    """What the receipt shows: the code (show it once, keep it nowhere), the dates the office
    must acknowledge and answer by, and what cleaning did to each file."""

    code: str = field(repr=False)
    report_id: str
    acknowledge_by: date
    feedback_by: date
    cleaned_report: tuple[AttachmentInfo, ...]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if "\x00" in text:
        raise ValueError
    text.encode("utf-8")  # lone surrogates cannot be stored: UnicodeEncodeError, a ValueError
    return text


def _staff_id(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise ValueError
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_STAFF_ID:
        raise ValueError
    return value


def _enum(enum_type: type[E], value: object, name: str, errors: dict[str, str]) -> E | None:
    try:
        return enum_type(value)  # type: ignore[call-arg]
    except (TypeError, ValueError):
        errors[name] = "unknown"
        return None


def check_fields(session: Session, fields: ReportFields) -> CheckedFields:
    """The fields' values, checked; every mistake at once in ReportInvalid (field -> key)."""
    errors: dict[str, str] = {}
    kind = _enum(ReportKind, fields.kind, "kind", errors)
    category = fields.category if categories.is_offered(session, fields.category) else None
    if category is None:
        errors["category"] = "unknown"
    level = _enum(SubjectLevel, fields.level, "level", errors)
    unit = None
    if isinstance(fields.unit_code, str) and 0 < len(fields.unit_code) <= MAX_UNIT_CODE:
        unit = units.by_code(session, fields.unit_code)
    if unit is None or unit.closed:  # a closed unit takes no new report
        errors["unit_code"] = "unknown"
    texts: dict[str, str] = {}
    for name, limit in TEXT_LIMITS.items():
        try:
            texts[name] = _text(getattr(fields, name))
        except (TypeError, ValueError):
            errors[name] = "invalid"
            continue
        if len(texts[name]) > limit:
            errors[name] = "too_long"
        elif name in REQUIRED and not texts[name]:
            errors[name] = "required"
    excluded: frozenset[int] = frozenset()
    try:
        excluded = check_exclusions(fields.excluded)
    except ReportInvalid as invalid:
        errors.update(invalid.errors)
    if not isinstance(fields.reporter_copy, bool):  # "false" would be true: no guessing
        errors["reporter_copy"] = "invalid"
    if errors:
        raise ReportInvalid(errors)
    assert unit and kind and category and level
    return CheckedFields(unit, kind, category, level, texts, excluded, fields.reporter_copy)


def check_exclusions(values: object) -> frozenset[int]:
    """The staff ids a reporter keeps out, as sent; ReportInvalid({"excluded": key}) unless
    they are at most ``MAX_EXCLUDED`` ids. Whom they name is for routing to say."""
    if not isinstance(values, list | tuple) or len(values) > MAX_EXCLUDED:
        raise ReportInvalid({"excluded": "too_many"})
    try:
        return frozenset(_staff_id(value) for value in values)
    except (TypeError, ValueError):
        raise ReportInvalid({"excluded": "invalid"}) from None


@dataclass(frozen=True)
class _Plan:
    """Everything a report's rows are made from, so they can be made again after a clash."""

    fields: CheckedFields
    route: Route
    text: SealedPayload
    identity: SealedPayload | None
    uploads: Sequence[Upload]
    today: date
    rules: DeadlineRules


def _document_fields(checked: CheckedFields) -> dict[str, str]:
    shown = {key: value for key, value in checked.texts.items() if key not in IDENTITY_FIELDS}
    return {
        "kind": checked.kind.value,
        "category": checked.category,
        "unit_code": checked.unit.code,
        "level": checked.level.value,
        **shown,
    }


def _rows(session: Session, report: Report, plan: _Plan) -> None:
    keys, excluded = plan.route.keys, plan.route.excluded
    readers = keys.readers(excluded)  # the office's inspectors and heads, less those kept out
    heads = keys.identity_readers(excluded)
    assert keys.recovery is not None and not excluded.intersection(readers)
    text_recipients = [*readers.values(), keys.recovery]
    if report.reporter_copy:  # the text and files only: the real name never goes back
        text_recipients.append(X25519Recipient.parse(report.reporter_recipient))
    session.add(new_envelope(report, EnvelopeRole.text, plan.text, text_recipients))
    for position, upload in enumerate(plan.uploads):
        session.add(
            new_envelope(
                report, EnvelopeRole.attachment, upload.payload, text_recipients, position=position
            )
        )
    if plan.identity is not None:
        identity_recipients = [*heads.values(), keys.recovery]
        session.add(new_envelope(report, EnvelopeRole.identity, plan.identity, identity_recipients))
    roles = {
        staff_id: ReaderRole.office_head if staff_id in heads else ReaderRole.inspector
        for staff_id in readers
    }
    for staff_id, role in sorted(roles.items()):
        session.add(ReportReader(report=report, staff_id=staff_id, role=role))
    for staff_id in sorted(excluded):
        session.add(ReportExclusion(report=report, staff_id=staff_id))


def _store(
    session: Session,
    pepper: bytes,
    versions: ReceiptVersions,
    plan: _Plan,
    draw_code: Callable[[], str] | None = None,
) -> tuple[str, Report]:
    """Insert the report under a fresh receipt code; on a lookup id clash, draw another.

    A clash is looked for before the insert, so the transaction never has to be rolled back
    (a savepoint would be needed for that, and pysqlite's savepoints can commit early). Two
    reports drawing the same code at the same instant are caught by the unique constraint:
    the second submission then fails whole, and the reporter sends it again. A mailbox is
    never shared.

    The code is derived under the current receipt version only: a clash with a report of an
    older version would need the same code drawn twice (about 10^-20 a report), and a lookup
    then opens the newer report.
    """
    for _ in range(MAX_CODE_DRAWS):
        code = draw_code() if draw_code is not None else new_receipt_code()
        receipt = derive_receipt(code, pepper, versions.current_params)
        clash = select(Report.id).where(Report.lookup_id == receipt.lookup_hex)
        if session.scalar(clash) is not None:
            continue
        report = Report(
            id=new_id(),  # now, not at the flush: every file's header names its report
            lookup_id=receipt.lookup_hex,
            receipt_version=versions.current,
            kind=plan.fields.kind,
            category=plan.fields.category,
            level=plan.fields.level,
            unit_id=plan.fields.unit.id,
            office_id=plan.route.keys.office_id,
            status=ReportStatus.received,
            received_on=plan.today,
            acknowledge_by=plan.rules.acknowledge_by(plan.today),
            feedback_by=plan.rules.feedback_by(plan.today),
            reporter_recipient=str(receipt.identity.recipient),
            real_name=bool(plan.fields.texts["real_name"]),
            reporter_copy=plan.fields.reporter_copy,
        )
        session.add(report)
        session.add(new_case(report, plan.rules))
        _rows(session, report, plan)
        session.flush()
        return code, report
    raise RuntimeError("no free receipt code after several draws")


def _refuse_closed_unit(session: Session, unit_id: int) -> None:
    """ReportInvalid({"unit_code": "unknown"}) if the unit was closed since the fields were
    checked. Asked once the report's rows are written, holding the unit's row (PostgreSQL:
    FOR SHARE, against the closing's FOR UPDATE; SQLite: the writer's lock the insert took):
    a unit closed at the same moment either counts this report among its open cases or is
    seen closed here. One read by primary key, the same for every report."""
    closed_on = session.scalar(
        select(Unit.closed_on).where(Unit.id == unit_id).with_for_update(read=True)
    )
    if closed_on is not None:
        raise ReportInvalid({"unit_code": "unknown"})


@dataclass(frozen=True)
class RoutedReport:
    """A report's fields, checked, and the office they route it to."""

    fields: CheckedFields
    route: Route


def check_and_route(session: Session, fields: ReportFields) -> RoutedReport:
    """Check the fields and route the report; writes nothing.

    Raises ReportInvalid (the fields) or ChannelUnavailable (no office can read it). A caller
    with checks of its own (the public site's budget) makes them between this and ``submit``,
    so that what the service would refuse never counts against them.
    """
    checked = check_fields(session, fields)
    route = route_report(session, checked.unit, checked.level, checked.excluded)
    return RoutedReport(checked, route)


def submit(
    session: Session,
    blobs: BlobStore,
    pepper: bytes,
    report: ReportFields | RoutedReport,
    uploads: Sequence[Upload],
    today: date,
    receipt_versions: ReceiptVersions = RECEIPT_VERSIONS,
    draw_code: Callable[[], str] | None = None,
    rules: DeadlineRules | None = None,
) -> Submitted:
    """Check and route a report (unless ``check_and_route`` did), encrypt and store it; commit
    durably; return what the receipt shows.

    Raises ReportInvalid (the fields) or ChannelUnavailable (no office can read it); then, as
    on any other error, nothing is stored and every blob of the uploads is deleted. The
    session's transaction is committed (or rolled back) here.

    ``draw_code`` draws the receipt codes to try; without it, ``new_receipt_code`` (the OS
    CSPRNG). Only the demo passes its own, so that its published codes open its reports.
    A code whose lookup id is taken is still drawn again: a source that repeats a taken
    code ends in the RuntimeError, never in a shared mailbox.

    ``rules`` date the steps the office owes the reporter (the app's, from its settings);
    without it, the defaults on the official calendar.
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    written = [upload.blob_key for upload in uploads]
    committing = False
    try:
        prepare_durable_commit(session)
        routed = report if isinstance(report, RoutedReport) else check_and_route(session, report)
        checked = routed.fields
        infos = tuple(
            AttachmentInfo(position, u.name, u.content_type, u.size, u.cleaning)
            for position, u in enumerate(uploads)
        )
        text = seal_payload(blobs, report_document(_document_fields(checked), infos))
        written.append(text.blob_key)
        identity = None
        if checked.texts["real_name"] or checked.texts["contact"]:
            document = identity_document(checked.texts["real_name"], checked.texts["contact"])
            identity = seal_payload(blobs, document)
            written.append(identity.blob_key)
        plan = _Plan(
            checked, routed.route, text, identity, uploads, today, rules or DeadlineRules()
        )
        code, row = _store(session, pepper, receipt_versions, plan, draw_code)
        _refuse_closed_unit(session, checked.unit.id)
        submitted = Submitted(code, row.id, row.acknowledge_by, row.feedback_by, infos)
        committing = True
        commit_durably(session, blobs.day_start(today))
    except BaseException as error:
        session.rollback()
        # A commit cut off (the database restarting as it answered) may have been made: its
        # blobs stay, as orphans ``portal reports fsck`` sweeps if it was not. A commit that
        # failed otherwise was not made: its blobs go.
        if not (committing and _outcome_unknown(error)):
            delete_blobs(blobs, written)
        raise
    return submitted


def _outcome_unknown(error: BaseException) -> bool:
    """Whether ``error`` may have come after the database made the commit: the connection
    lost, or the database failing, while it answered."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated
