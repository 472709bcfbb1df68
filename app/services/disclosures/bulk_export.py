"""Bulk export of published disclosures, with their history and attachments, as JSON Lines."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureAttachment,
    DisclosureRevision,
    PublicState,
)
from app.services.blobs import BlobStore
from app.services.disclosures.bulk_format import SCOPE_NAMES


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
        for file in revision.attachments:
            if file.id in seen:
                continue
            seen.add(file.id)
            folder = str(line) if file.filename not in used_names else f"{line}-{len(seen)}"
            used_names.add(file.filename)
            if attachments_dir is None or blobs is None:
                raise ValueError("attachments need a folder to be exported to")
            target = attachments_dir / folder / file.filename
            _copy_blob(blobs, attachments[file.id], target)
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
        if revision.action == Action.review:
            continue  # the workers' congress's review is no change of the text
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
