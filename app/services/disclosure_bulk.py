"""Bulk import and export of published disclosures as JSON Lines (one item a line).

Each line is one disclosure with its whole public history::

    {"title": "...", "category": "procurement", "unit": "MCH", "scope": "all",
     "body_md": "...", "published_on": "2025-03-01", "period": "2025-Q1",
     "attachments": ["files/result.pdf"],
     "revisions": [{"title": "...", "body_md": "...", "reason": "...",
                    "revised_on": "2025-03-05", "attachments": ["files/corrected.pdf"]}],
     "retraction": {"retracted_on": "2025-04-01", "reason": "..."}}

Imported items go through the same services as the console workflow (sanitised rendering,
attachment type checks, the search index, one log leaf per revision). Dates are days in the
portal's time zone; an imported revision is dated at the start of that day.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureAttachment,
    DisclosureCategory,
    DisclosureRevision,
    PublicState,
    Scope,
    Unit,
    WorkState,
)
from app.services import attachments as attachment_service
from app.services import disclosure_log
from app.services import disclosures as service
from app.services.blobs import BlobStore
from app.services.periods import PERIOD_KEY_RE
from crypto import tlog

SCOPES = {"all": Scope.everyone, "unit": Scope.unit, "party": Scope.party}
SCOPE_NAMES = {scope: name for name, scope in SCOPES.items()}
ITEM_KEYS = {
    "title",
    "category",
    "unit",
    "scope",
    "body_md",
    "published_on",
    "period",
    "attachments",
    "revisions",
    "retraction",
}
REQUIRED_KEYS = ("title", "category", "unit", "scope", "body_md", "published_on")
REVISION_KEYS = {"title", "body_md", "reason", "revised_on", "attachments"}
RETRACTION_KEYS = {"retracted_on", "reason"}
HEAD_BYTES = 4096


class LineError(Exception):
    """This line cannot be imported; the message says why (in English, for the operator)."""


# --- reading a line -------------------------------------------------------------------------


@dataclass
class FileRef:
    path: Path
    name: str


@dataclass
class ParsedRevision:
    title: str | None
    body: str
    reason: str
    day: date
    attachments: list[FileRef] = field(default_factory=list)


@dataclass
class ParsedItem:
    title: str
    category_id: int
    unit_id: int
    scope: Scope
    body: str
    day: date
    period: str | None
    attachments: list[FileRef]
    revisions: list[ParsedRevision]
    retraction: tuple[date, str] | None


@dataclass
class Lookups:
    """Codes an import line may name, resolved once per import."""

    categories: dict[str, DisclosureCategory]
    units: dict[str, int]

    @classmethod
    def load(cls, session: Session) -> Lookups:
        return cls(
            {c.code: c for c in session.scalars(select(DisclosureCategory))},
            {code: id_ for id_, code in session.execute(select(Unit.id, Unit.code))},
        )


def _text(value: Any, key: str, *, required: bool = True, limit: int | None = None) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise LineError(f"{key} must be a string")
    if required and not value.strip():
        raise LineError(f"{key} is empty")
    if limit is not None and len(value) > limit:
        raise LineError(f"{key} is longer than {limit} characters")
    return value


def _title(value: Any, key: str) -> str:
    title = _text(value, key, limit=service.TITLE_MAX).strip()
    if not service.is_one_line(title):
        raise LineError(f"{key} must be one line")
    return title


def _day(value: Any, key: str, today: date) -> date:
    if not isinstance(value, str):
        raise LineError(f"{key} must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise LineError(f"{key} {value!r} is not a date written YYYY-MM-DD") from None
    if len(value) != 10:
        raise LineError(f"{key} {value!r} is not a date written YYYY-MM-DD")
    if day > today:
        raise LineError(f"{key} {value} is in the future")
    return day


def _object(value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LineError(f"{key} must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        prefix = "" if key == "the line" else f"{key}: "
        raise LineError(f"{prefix}unknown field {unknown[0]!r}")
    return value


def _files(value: Any, key: str, base_dir: Path, max_bytes: int) -> list[FileRef]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LineError(f"{key} must be a list of file paths")
    refs = []
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            raise LineError(f"{key}: each attachment must be a file path")
        relative = PurePosixPath(entry)
        if relative.is_absolute():
            raise LineError(f"{key}: {entry!r} must be relative to the import file")
        path = base_dir.joinpath(*relative.parts)
        if not path.is_file():
            raise LineError(f"attachment {entry!r} not found")
        name = attachment_service.safe_filename(relative.name)
        ext = attachment_service.extension_of(name)
        if ext not in attachment_service.KINDS:
            raise LineError(f"attachment {entry!r}: file type .{ext or '?'} is not accepted")
        size = path.stat().st_size
        if size == 0 or size > max_bytes:
            raise LineError(f"attachment {entry!r}: empty or larger than {max_bytes} bytes")
        try:
            with path.open("rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError as exc:
            raise LineError(f"attachment {entry!r} cannot be read ({exc.strerror})") from None
        if not attachment_service.matches_content(ext, head):
            raise LineError(f"attachment {entry!r}: content does not match its type .{ext}")
        refs.append(FileRef(path, name))
    return refs


def parse_line(
    line: str, base_dir: Path, lookups: Lookups, today: date, max_bytes: int
) -> ParsedItem:
    """Check one line completely, before anything is stored; LineError says what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    data = _object(data, "the line", ITEM_KEYS)
    for key in REQUIRED_KEYS:
        if key not in data:
            raise LineError(f"{key} is missing")
    title = _title(data["title"], "title")
    body = _text(data["body_md"], "body_md", required=False, limit=service.BODY_MAX)
    code = data["category"]
    category = lookups.categories.get(code) if isinstance(code, str) else None
    if category is None:
        raise LineError(f"unknown category {code!r}")
    if not category.active:
        raise LineError(f"category {code!r} is not active")
    unit_id = lookups.units.get(data["unit"]) if isinstance(data["unit"], str) else None
    if unit_id is None:
        raise LineError(f"unknown unit {data['unit']!r}")
    scope = SCOPES.get(data["scope"]) if isinstance(data["scope"], str) else None
    if scope is None:
        raise LineError(f"scope must be one of {', '.join(SCOPES)}, not {data['scope']!r}")
    day = _day(data["published_on"], "published_on", today)
    period = data.get("period")
    if period is not None and (not isinstance(period, str) or not PERIOD_KEY_RE.match(period)):
        raise LineError(f"period {period!r} must look like 2026, 2026-H1, 2026-Q2 or 2026-05")
    item = ParsedItem(
        title=title,
        category_id=category.id,
        unit_id=unit_id,
        scope=scope,
        body=body,
        day=day,
        period=period or None,
        attachments=_files(data.get("attachments"), "attachments", base_dir, max_bytes),
        revisions=[],
        retraction=None,
    )
    revisions = data.get("revisions") or []
    if not isinstance(revisions, list):
        raise LineError("revisions must be a list")
    last = day
    for number, raw in enumerate(revisions, start=2):
        label = f"revision {number}"
        raw = _object(raw, label, REVISION_KEYS)
        for key in ("body_md", "reason", "revised_on"):
            if key not in raw:
                raise LineError(f"{label}: {key} is missing")
        revision = ParsedRevision(
            title=(
                _title(raw["title"], f"{label}: title") if raw.get("title") is not None else None
            ),
            body=_text(raw["body_md"], f"{label}: body_md", required=False, limit=service.BODY_MAX),
            reason=_text(raw["reason"], f"{label}: reason").strip(),
            day=_day(raw["revised_on"], f"{label}: revised_on", today),
            attachments=_files(
                raw.get("attachments"), f"{label}: attachments", base_dir, max_bytes
            ),
        )
        if revision.day < last:
            raise LineError(f"{label}: revised_on is before the previous date")
        last = revision.day
        item.revisions.append(revision)
    if data.get("retraction") is not None:
        raw = _object(data["retraction"], "retraction", RETRACTION_KEYS)
        for key in ("retracted_on", "reason"):
            if key not in raw:
                raise LineError(f"retraction: {key} is missing")
        retracted_on = _day(raw["retracted_on"], "retraction: retracted_on", today)
        if retracted_on < last:
            raise LineError("retraction: retracted_on is before the previous date")
        item.retraction = (retracted_on, _text(raw["reason"], "retraction: reason").strip())
    return item


# --- storing an item ------------------------------------------------------------------------


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

    fields = service.DraftFields(
        title=item.title,
        body=item.body,
        category=session.get(DisclosureCategory, item.category_id),
        unit=session.get(Unit, item.unit_id),
        scope=item.scope,
        period_key=item.period,
    )
    try:
        service._check_fields(fields)
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
        service._record(session, disclosure, "imported", None, at=at(item.day))
        _attach(session, blobs, disclosure, item.attachments, max_bytes, stored_blobs)
        service.publish(session, disclosure, at=at(item.day))
        for revision in item.revisions:
            if revision.title is not None:
                disclosure.title = revision.title
            disclosure.body = revision.body
            disclosure.reason = revision.reason
            _attach(session, blobs, disclosure, revision.attachments, max_bytes, stored_blobs)
            service.amend(session, disclosure, at=at(revision.day))
        if item.retraction is not None:
            disclosure.reason = item.retraction[1]
            service.retract(session, disclosure, at=at(item.retraction[0]))
    except service.DisclosureError as exc:
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


def _local_day(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat()


def _copy_blob(blobs: BlobStore, attachment: DisclosureAttachment, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with blobs.open(attachment.blob_key) as source, target.open("wb") as out:
        while chunk := source.read(64 * 1024):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != attachment.sha256:
        raise ValueError(f"attachment {attachment.id} differs from its recorded hash")


def export_items(
    session: Session,
    blobs: BlobStore | None,
    attachments_dir: Path | None,
    base_dir: Path,
    zone: ZoneInfo,
    batch_size: int = 500,
) -> Iterator[dict[str, Any]]:
    """Every disclosure on the public record, oldest first, as import lines (dicts).

    Only published revisions are exported (not working copies, steps or questions).
    Attachment files are copied to ``attachments_dir/<line>/<name>``, named relative to
    ``base_dir`` (where the JSON Lines file is).
    """
    last_id = 0
    line = 0
    while True:
        ids = list(
            session.scalars(
                select(Disclosure.id)
                .where(Disclosure.id > last_id, Disclosure.public_state != PublicState.unpublished)
                .order_by(Disclosure.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return
        last_id = ids[-1]
        revisions: dict[int, list[DisclosureRevision]] = {i: [] for i in ids}
        for revision in session.scalars(
            select(DisclosureRevision)
            .where(DisclosureRevision.disclosure_id.in_(ids))
            .order_by(DisclosureRevision.disclosure_id, DisclosureRevision.number)
        ):
            revisions[revision.disclosure_id].append(revision)
        attachments = {
            a.id: a
            for a in session.scalars(
                select(DisclosureAttachment).where(DisclosureAttachment.disclosure_id.in_(ids))
            )
        }
        for disclosure_id in ids:
            history = revisions[disclosure_id]
            if not history:
                continue
            line += 1
            yield _export_item(history, attachments, blobs, attachments_dir, base_dir, zone, line)
        session.expunge_all()


def _export_item(history, attachments, blobs, attachments_dir, base_dir, zone, line):
    first = history[0]
    used_names: set[str] = set()
    seen: set[int] = set()

    def new_files(revision: DisclosureRevision) -> list[str]:
        paths = []
        for attachment_id, name, _sha in json.loads(revision.attachments_json or "[]"):
            if attachment_id in seen:
                continue
            seen.add(attachment_id)
            folder = str(line) if name not in used_names else f"{line}-{len(seen)}"
            used_names.add(name)
            if attachments_dir is None or blobs is None:
                raise ValueError("attachments need a folder to be exported to")
            target = attachments_dir / folder / name
            _copy_blob(blobs, attachments[attachment_id], target)
            paths.append(Path(os.path.relpath(target, base_dir)).as_posix())
        return paths

    item: dict[str, Any] = {
        "title": first.title,
        "category": first.category_code,
        "unit": first.unit_code,
        "scope": SCOPE_NAMES[first.scope],
        "body_md": first.body,
        "published_on": _local_day(first.published_at, zone),
    }
    if first.period_key:
        item["period"] = first.period_key
    files = new_files(first)
    if files:
        item["attachments"] = files
    changes = []
    for revision in history[1:]:
        if revision.action == Action.retract:
            item["retraction"] = {
                "retracted_on": _local_day(revision.published_at, zone),
                "reason": revision.reason,
            }
            break
        change: dict[str, Any] = {
            "title": revision.title,
            "body_md": revision.body,
            "reason": revision.reason,
            "revised_on": _local_day(revision.published_at, zone),
        }
        files = new_files(revision)
        if files:
            change["attachments"] = files
        changes.append(change)
    if changes:
        item["revisions"] = changes
    return item


def write_jsonl(items: Iterable[dict[str, Any]], out: BinaryIO) -> int:
    """Write items one a line (UTF-8, no ASCII escapes); returns how many."""
    count = 0
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False).encode() + b"\n")
        count += 1
    return count
