"""The JSON Lines format of bulk import and export: one disclosure with its public history a line.

Each line looks like::

    {"title": "...", "category": "procurement", "unit": "MCH", "scope": "all",
     "body_md": "...", "published_on": "2025-03-01", "period": "2025-Q1",
     "attachments": ["files/result.pdf"],
     "revisions": [{"title": "...", "body_md": "...", "reason": "...",
                    "revised_on": "2025-03-05", "attachments": ["files/corrected.pdf"]}],
     "retraction": {"retracted_on": "2025-04-01", "reason": "..."}}

Dates are days in the portal's time zone. ``parse_line`` checks one line completely before
anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    DisclosureCategory,
    Scope,
)
from app.services import units
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import drafting
from app.services.periods import PERIOD_KEY_RE

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
            units.codes_to_ids(session),
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
    title = _text(value, key, limit=drafting.TITLE_MAX).strip()
    if not drafting.is_one_line(title):
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
    body = _text(data["body_md"], "body_md", required=False, limit=drafting.BODY_MAX)
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
            body=_text(
                raw["body_md"], f"{label}: body_md", required=False, limit=drafting.BODY_MAX
            ),
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
