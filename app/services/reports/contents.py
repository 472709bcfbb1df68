"""The plaintext documents inside a report's age files: one JSON object each, versioned.

- the report: every text field of the form and the list of its attachments (name, type,
  size, what cleaning did), so a reader sees what was sent without opening the files;
- a message of the thread: its text and its attachments, the same way;
- the real-name block: the reporter's name and contact, for the office heads only.

Attachments are referred to by position: the envelope with role ``attachment`` and the same
``position`` holds the file (and the file's header names that position: places.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.services.reports.cleaning import Cleaning

VERSION = 1
# A document is read whole into memory: more than this is damage or an attack.
MAX_DOCUMENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class AttachmentInfo:
    """What a report or message says about one of its files."""

    position: int
    name: str
    content_type: str
    size: int
    cleaning: Cleaning

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "name": self.name,
            "type": self.content_type,
            "size": self.size,
            "cleaning": self.cleaning.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttachmentInfo:
        return cls(
            int(data["position"]),
            str(data["name"]),
            str(data["type"]),
            int(data["size"]),
            Cleaning.from_dict(data["cleaning"]),
        )


def _encode(kind: str, body: Mapping[str, Any]) -> bytes:
    document = {"v": VERSION, "doc": kind, **body}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def decode(data: bytes, kind: str) -> dict[str, Any]:
    """A document of ``kind`` (``report``, ``message``, ``identity``, ``note``); ValueError
    otherwise."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValueError("document too large")
    document = json.loads(data.decode("utf-8"))
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise ValueError("not a report document of a known version")
    if document.get("doc") != kind:
        raise ValueError(f"not a {kind} document")
    return document


def report_document(fields: Mapping[str, str], attachments: Sequence[AttachmentInfo]) -> bytes:
    """The report's text: the form's text fields and the list of its attachments."""
    return _encode(
        "report", {"fields": dict(fields), "attachments": [a.as_dict() for a in attachments]}
    )


def message_document(text: str, attachments: Sequence[AttachmentInfo]) -> bytes:
    return _encode("message", {"text": text, "attachments": [a.as_dict() for a in attachments]})


def note_document(text: str) -> bytes:
    """An internal note of the office (app/services/cases/notes.py)."""
    return _encode("note", {"text": text})


def identity_document(name: str, contact: str) -> bytes:
    return _encode("identity", {"name": name, "contact": contact})


def attachments_of(document: Mapping[str, Any]) -> list[AttachmentInfo]:
    return [AttachmentInfo.from_dict(item) for item in document.get("attachments", [])]
