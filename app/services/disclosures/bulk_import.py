"""Bulk import of published disclosures from JSON Lines (see ``bulk_format``).

Imported items get what the console workflow gives them (sanitised rendering, attachment type
checks, the search index, one log leaf per revision). ``store_item`` publishes one item through
the workflow's services; ``import_lines`` writes whole batches of checked lines with the same
rows and leaves (the tests compare both). An imported revision is dated at the start of its
day in the portal's time zone.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureAttachment,
    DisclosureCategory,
    DisclosureRevision,
    DisclosureStep,
    PublicState,
    StepAction,
    Unit,
    WorkState,
)
from app.models.disclosures import PublishedFile
from app.services import public_version
from app.services.blobs import BlobStore, StoredBlob
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import import_texts, publishing, steps
from app.services.disclosures import log as disclosure_log
from app.services.disclosures.bulk_format import FileRef, LineError, Lookups, ParsedItem, parse_line
from app.services.disclosures.drafting import DraftFields, check_fields
from app.services.disclosures.errors import DisclosureError
from app.services.disclosures.publishing import whole_second
from app.services.search import index as search_index
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


# --- the batched import ---------------------------------------------------------------------
#
# ``store_item`` writes an item the way the console workflow does, a few queries at a time,
# about 20 statements per item. The import writes the same rows for a whole batch with one
# statement per table: every line is checked first (the same checks and messages as
# ``store_item``), the log is locked once per batch and its next indexes are handed out in
# line order, and the text shown to search is made in worker processes while the previous
# batch is written. The tests compare both ways, row by row and leaf by leaf.

PARALLEL_MIN = 200  # texts in a batch worth handing to worker processes


@dataclass
class _Version:
    """One revision of an item to publish: what the working copy holds when it is logged."""

    action: Action
    title: str
    body: str
    reason: str
    at: datetime
    files: list[tuple[str, attachment_service.FileKind, StoredBlob]]


@dataclass
class _Checked:
    """A line checked completely, its files stored, ready to be written in a batch."""

    item: ParsedItem
    imported_at: datetime
    versions: list[_Version]
    title: str  # the working copy's title and text after the last version
    body: str


def _store_files(
    blobs: BlobStore, refs: list[FileRef], max_bytes: int, stored: list[str]
) -> list[tuple[str, attachment_service.FileKind, StoredBlob]]:
    files = []
    for ref in refs:
        try:
            with ref.path.open("rb") as stream:
                files.append(attachment_service.store_file(blobs, ref.name, stream, max_bytes))
        except attachment_service.AttachmentError as exc:
            raise LineError(f"attachment {ref.name!r}: {exc.message}") from None
        except OSError as exc:
            raise LineError(f"attachment {ref.name!r} cannot be read ({exc.strerror})") from None
        stored.append(files[-1][2].key)
    return files


def _check_item(
    item: ParsedItem,
    category: DisclosureCategory,
    blobs: BlobStore,
    zone: ZoneInfo,
    max_bytes: int,
    stored_blobs: list[str],
) -> _Checked:
    """What ``store_item`` checks and stores before its first write, in the same order."""

    def at(day: date) -> datetime:
        return datetime.combine(day, time(0, 0), tzinfo=zone)

    def logged(day: date) -> datetime:
        return whole_second(at(day))

    fields = DraftFields(
        title=item.title,
        body=item.body,
        category=category,
        unit=None,  # type: ignore[arg-type]  # not read by the checks
        scope=item.scope,
        period_key=item.period,
    )
    try:
        check_fields(fields)
        files = _store_files(blobs, item.attachments, max_bytes, stored_blobs)
        title, body = item.title, item.body
        versions = [_Version(Action.publish, title.strip(), body, "", logged(item.day), files)]
        for revision in item.revisions:
            if revision.title is not None:
                title = revision.title
            body = revision.body
            files = _store_files(blobs, revision.attachments, max_bytes, stored_blobs)
            if not revision.reason.strip():
                raise DisclosureError(_l("Give the reason for the change."))
            versions.append(
                _Version(
                    Action.amend,
                    title.strip(),
                    body,
                    revision.reason.strip(),
                    logged(revision.day),
                    files,
                )
            )
        if item.retraction is not None:
            day, reason = item.retraction
            if not reason.strip():
                raise DisclosureError(_l("Give the reason for the retraction."))
            versions.append(
                _Version(Action.retract, title.strip(), "", reason.strip(), logged(day), [])
            )
    except DisclosureError as exc:
        raise LineError(str(exc.message)) from None
    return _Checked(item, at(item.day), versions, title, body)


def _search_job(checked: _Checked) -> import_texts.Job:
    shown = [v for v in checked.versions if v.action != Action.retract][-1]
    last = checked.versions[-1]
    retracted = last.action == Action.retract
    return (
        retracted,
        shown.title,
        shown.body,
        last.reason if retracted else "",
        [name for version in checked.versions for name, _kind, _blob in version.files],
    )


class _Texts:
    """Makes the search texts of a batch, in worker processes once batches are large.

    ``submit`` returns at once; what it returns waits for the texts. The workers are started
    on first use, so a small import starts no process; a worker that dies fails the import
    (BrokenProcessPool) rather than leaving it waiting.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, batch: list[_Checked]) -> Callable[[], list[import_texts.Texts]]:
        work = [_search_job(checked) for checked in batch]
        if self.jobs <= 1 or len(work) < PARALLEL_MIN:
            done = [import_texts.search_texts(job) for job in work]
            return lambda: done
        if self.pool is None:
            # Spawned, not forked: a child never shares the parent's database connections.
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=context)
        chunk = max(1, len(work) // (self.jobs * 4))
        results = self.pool.map(import_texts.search_texts, work, chunksize=chunk)
        return lambda: list(results)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def _write_batch(
    session: Session,
    batch: list[_Checked],
    texts: list[import_texts.Texts],
    unit_codes: dict[int, str],
    category_codes: dict[int, str],
) -> None:
    """Write a checked batch, each item as ``store_item`` writes it, and commit it."""
    disclosure_log.LOG.lock(session)
    next_index = disclosure_log.log_size(session)
    disclosure_rows = []
    for checked, (search_body, *_indexed) in zip(batch, texts, strict=True):
        item, versions = checked.item, checked.versions
        shown = [v for v in versions if v.action != Action.retract][-1]
        amended = [v.at for v in versions if v.action == Action.amend]
        retracted = versions[-1].action == Action.retract
        disclosure_rows.append(
            {
                "author_id": None,
                "public_state": PublicState.retracted if retracted else PublicState.published,
                "work_state": WorkState.none,
                "work_action": Action.publish,
                "work_author_id": None,
                "title": checked.title,
                "body": checked.body,
                "reason": "",
                "category_id": item.category_id,
                "unit_id": item.unit_id,
                "scope": item.scope,
                "period_key": item.period,
                "scheduled_at": None,
                "decision_record": None,
                "congress_requested": False,
                "published_at": versions[0].at,
                "revised_at": amended[-1] if amended else None,
                "retracted_at": versions[-1].at if retracted else None,
                "revision_count": len(versions),
                "public_title": shown.title,
                "search_body": search_body,
                "congress_status": None,
                "congress_opinion": "",
            }
        )
    ids = _insert_with_ids(session, Disclosure.__table__, disclosure_rows)
    file_rows = [
        {
            "disclosure_id": disclosure_id,
            "filename": name,
            "content_type": kind.content_type,
            "size": blob.size,
            "sha256": blob.sha256,
            "blob_key": blob.key,
            "uploaded_by_id": None,
            "published": True,
        }
        for disclosure_id, checked in zip(ids, batch, strict=True)
        for version in checked.versions
        for name, kind, blob in version.files
    ]
    file_ids = _insert_with_ids(session, DisclosureAttachment.__table__, file_rows)
    revision_rows, step_rows, documents = [], [], []
    new_files = iter(zip(file_ids, file_rows, strict=True))
    record = disclosure_log.LOG.record
    step_of = {
        Action.publish: StepAction.published,
        Action.amend: StepAction.amended,
        Action.retract: StepAction.retracted,
    }
    for disclosure_id, checked, texts_of_item in zip(ids, batch, texts, strict=True):
        item = checked.item
        step_rows.append(_step(disclosure_id, StepAction.imported, checked.imported_at))
        published: list[PublishedFile] = []
        for number, version in enumerate(checked.versions, start=1):
            for _file in version.files:
                file_id, row = next(new_files)
                published.append(PublishedFile(file_id, row["filename"], row["sha256"]))
            # What ``_new_revision`` puts into the revision, as the columns of its row.
            revision = {
                "disclosure_id": disclosure_id,
                "number": number,
                "action": version.action,
                "title": version.title,
                "body": version.body,
                "reason": version.reason,
                "category_code": category_codes[item.category_id],
                "unit_code": unit_codes[item.unit_id],
                "scope": item.scope,
                "period_key": item.period,
                "published_at": version.at,
                "attachments": tuple(published),
                "decision_record": None,
                "congress_status": None,
                "congress_opinion": None,
                "author_id": None,
                "approver_id": None,
                "log_index": next_index,
            }
            # The same canonical record as the logged revision's, read from the same values.
            leaf = tlog.leaf_hash(record(SimpleNamespace(**revision)))
            revision["attachments_json"] = revision.pop("attachments")  # the column's name
            revision_rows.append(revision | {"leaf_hash": leaf.hex()})
            next_index += 1
            step_rows.append(_step(disclosure_id, step_of[version.action], version.at))
        _text, title_tokens, tokens, names = texts_of_item
        documents.append(
            search_index.Document(
                disclosure_id,
                title_tokens,
                tokens,
                names,
                item.scope,
                item.unit_id,
                checked.versions[0].at,
            )
        )
    session.execute(insert(DisclosureRevision.__table__), revision_rows)
    session.execute(insert(DisclosureStep.__table__), step_rows)
    search_index.write(session, documents, [])
    public_version.bump(session)
    session.commit()


def _insert_with_ids(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in order and return their new ids, in the same order."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        # The log's lock holds the database's one writer, so the next ids are free, and they
        # are those SQLite would give: an integer key without AUTOINCREMENT takes the largest
        # plus one. (SQLite returns the ids of a many-row INSERT in no promised order, so
        # asking for them would cost a statement per row.)
        first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
        ids = list(range(first, first + len(rows)))
        session.execute(
            insert(table), [row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)]
        )
        return ids
    # The ids come from the table's sequence first, as the inserts would draw them, in order;
    # the rows then go in as a plain many-row insert. (Asking the insert to return its ids,
    # in order, makes it one statement of every row's values, which the driver reads through
    # and the server plans as a whole: for 500 items several times the cost of the rows.)
    sequence = func.pg_get_serial_sequence(table.name, table.c.id.name)
    ids = sorted(
        session.scalars(
            select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))
        )
    )
    session.execute(insert(table), [row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)])
    return ids


def _step(disclosure_id: int, action: StepAction, at: datetime) -> dict[str, Any]:
    return {
        "disclosure_id": disclosure_id,
        "action": action,
        "actor_id": None,
        "comment": "",
        "at": at,
    }


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
    jobs: int = 1,
    on_line: Callable[[int, str | None], None] | None = None,
) -> ImportResult:
    """Import JSON Lines; a bad line is reported and nothing of it is kept.

    Every line is checked completely before anything of it is written; the good lines are
    written and committed ``batch_size`` at a time, each batch in one transaction, so a long
    import neither holds one huge transaction nor loses good lines to a bad one, and an
    import stopped half-way has kept whole items only. ``jobs`` worker processes make the
    search text of large batches. One checkpoint is signed at the end, over everything
    imported.
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    result = ImportResult()
    lookups = Lookups.load(session)
    categories_by_id = {category.id: category for category in lookups.categories.values()}
    category_codes = {category.id: category.code for category in lookups.categories.values()}
    unit_codes = {unit_id: code for code, unit_id in lookups.units.items()}
    session.commit()  # nothing is held while the first batch is read and checked
    texts = _Texts(jobs)
    batch: list[_Checked] = []
    waiting: tuple[list[_Checked], Callable[[], list]] | None = None

    def write(ready: tuple[list[_Checked], Callable[[], list]]) -> None:
        written, made = ready
        try:
            _write_batch(session, written, made(), unit_codes, category_codes)
        except BaseException:
            session.rollback()
            for checked in written:  # files of lines that were never committed
                for version in checked.versions:
                    for _name, _kind, blob in version.files:
                        blobs.delete(blob.key)
            raise
        result.imported += len(written)

    try:
        for number, raw in enumerate(lines, start=1):
            error = None
            if raw.strip():
                stored: list[str] = []
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                    item = parse_line(line, base_dir, lookups, today, max_bytes)
                    category = categories_by_id[item.category_id]
                    batch.append(_check_item(item, category, blobs, zone, max_bytes, stored))
                except UnicodeDecodeError:
                    error = "not valid UTF-8"
                except LineError as exc:
                    error = str(exc)
                if error is not None:
                    result.errors.append((number, error))
                    for key in stored:
                        blobs.delete(key)
            if on_line is not None:
                on_line(number, error)
            if len(batch) >= batch_size:
                # The workers make this batch's texts while the previous one is written.
                previous, waiting = waiting, (batch, texts.submit(batch))
                batch = []
                if previous is not None:
                    write(previous)
        if batch:
            previous, waiting = waiting, (batch, texts.submit(batch))
            batch = []
            if previous is not None:
                write(previous)
        if waiting is not None:
            previous, waiting = waiting, None
            write(previous)
    except BaseException:
        for pending in [*(waiting[0] if waiting else []), *batch]:
            for version in pending.versions:
                for _name, _kind, blob in version.files:
                    blobs.delete(blob.key)
        raise
    finally:
        texts.close()
    checkpoint = disclosure_log.sign_checkpoint(session, signer, origin)
    session.commit()
    result.checkpoint = checkpoint.note if checkpoint else None
    return result


# --- export ---------------------------------------------------------------------------------
