"""Bulk import of published disclosures from JSON Lines (see ``bulk_format``).

Imported items go through the same services as the console workflow (sanitised rendering,
attachment type checks, the search index, one log leaf per revision). An imported revision
is dated at the start of its day in the portal's time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureCategory,
    PublicState,
    StepAction,
    Unit,
    WorkState,
)
from app.services.blobs import BlobStore
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import publishing, steps
from app.services.disclosures.bulk_format import FileRef, LineError, Lookups, ParsedItem, parse_line
from app.services.disclosures.drafting import DraftFields, check_fields
from app.services.disclosures.errors import DisclosureError
from crypto import tlog


def _attach(
    session: Session,
    blobs: BlobStore,
    disclosure: Disclosure,
    refs: list[FileRef],
    max_bytes: int,
    stored: list[str],
) -> None:
    if not refs:
        return
    for ref in refs:
        try:
            with ref.path.open("rb") as stream:
                attachment = attachment_service.add_attachment(
                    session, blobs, disclosure, None, ref.name, stream, max_bytes
                )
        except attachment_service.AttachmentError as exc:
            raise LineError(f"attachment {ref.name!r}: {exc.message}") from None
        except OSError as exc:
            raise LineError(f"attachment {ref.name!r} cannot be read ({exc.strerror})") from None
        stored.append(attachment.blob_key)
    # The revision records attachment ids, which exist only once the rows are flushed.
    session.flush()


def store_item(
    session: Session,
    blobs: BlobStore,
    item: ParsedItem,
    zone: ZoneInfo,
    max_bytes: int,
    stored_blobs: list[str],
) -> Disclosure:
    """Publish a parsed item and its later revisions, as the console workflow would.

    Like ``disclosures.import_published``, but attachments are added before the first
    publication so that its log leaf lists them. Blob keys written are appended to
    ``stored_blobs`` so the caller can remove them if the line is rolled back.
    """

    def at(day: date) -> datetime:
        return datetime.combine(day, time(0, 0), tzinfo=zone)

    fields = DraftFields(
        title=item.title,
        body=item.body,
        category=session.get(DisclosureCategory, item.category_id),
        unit=session.get(Unit, item.unit_id),
        scope=item.scope,
        period_key=item.period,
    )
    try:
        check_fields(fields)
        disclosure = Disclosure(
            public_state=PublicState.unpublished,
            revision_count=0,
            work_state=WorkState.draft,
            work_action=Action.publish,
            title=fields.title,
            body=fields.body,
            category=fields.category,
            unit=fields.unit,
            scope=fields.scope,
            period_key=fields.period_key,
            # Empty, not unloaded: a new item has none, and loading them costs a query each.
            attachments=[],
            revisions=[],
            steps=[],
        )
        session.add(disclosure)
        steps.record(session, disclosure, StepAction.imported, None, at=at(item.day))
        _attach(session, blobs, disclosure, item.attachments, max_bytes, stored_blobs)
        publishing.publish(session, disclosure, at=at(item.day))
        for revision in item.revisions:
            if revision.title is not None:
                disclosure.title = revision.title
            disclosure.body = revision.body
            disclosure.reason = revision.reason
            _attach(session, blobs, disclosure, revision.attachments, max_bytes, stored_blobs)
            publishing.amend(session, disclosure, at=at(revision.day))
        if item.retraction is not None:
            disclosure.reason = item.retraction[1]
            publishing.retract(session, disclosure, at=at(item.retraction[0]))
    except DisclosureError as exc:
        raise LineError(str(exc.message)) from None
    return disclosure


@dataclass
class ImportResult:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    checkpoint: str | None = None


def import_lines(
    session: Session,
    lines: Iterable[bytes],
    base_dir: Path,
    blobs: BlobStore,
    *,
    zone: ZoneInfo,
    today: date,
    max_bytes: int,
    signer: tlog.Signer,
    origin: str,
    batch_size: int = 500,
    on_line: Callable[[int, str | None], None] | None = None,
) -> ImportResult:
    """Import JSON Lines; a bad line is reported and nothing of it is kept.

    Each line runs in its own savepoint, and the work is committed every ``batch_size``
    lines, so a long import neither holds one huge transaction nor loses good lines to a
    bad one. One checkpoint is signed at the end, over everything imported.
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    result = ImportResult()
    lookups = Lookups.load(session)
    pending = 0
    for number, raw in enumerate(lines, start=1):
        error = None
        if raw.strip():
            stored: list[str] = []
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                item = parse_line(line, base_dir, lookups, today, max_bytes)
                with session.begin_nested():
                    store_item(session, blobs, item, zone, max_bytes, stored)
            except UnicodeDecodeError:
                error = "not valid UTF-8"
            except LineError as exc:
                error = str(exc)
            if error is None:
                result.imported += 1
                pending += 1
            else:
                result.errors.append((number, error))
                for key in stored:
                    blobs.delete(key)
        if on_line is not None:
            on_line(number, error)
        if pending >= batch_size:
            session.commit()
            session.expunge_all()
            pending = 0
    session.commit()
    checkpoint = disclosure_log.sign_checkpoint(session, signer, origin)
    session.commit()
    result.checkpoint = checkpoint.note if checkpoint else None
    return result


# --- export ---------------------------------------------------------------------------------
