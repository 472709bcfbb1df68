"""Removing what a file says about its author: EXIF (with GPS), XMP, IPTC, comments, document
properties. Files are recognised by their content, never by their name or declared type.

JPEG, PNG, WebP and TIFF: ``cleaning_images``; PDF and Office Open XML: ``cleaning_documents``.
Cleaning needs the whole file in memory, so only files up to the upload's cleaning limit are
cleaned; larger ones, and files that cannot be parsed, are stored as sent and the reporter is
told which and why (``Cleaning.state``). A file that gives any parser trouble is never half
cleaned: it is cleaned entirely or kept exactly as it was.
"""

from __future__ import annotations

import enum
import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.services.reports import cleaning_documents, cleaning_images


class CleanState(enum.StrEnum):
    cleaned = "cleaned"  # metadata was found and removed
    nothing_found = "nothing_found"  # a type we clean, and it had none
    too_large = "too_large"  # a type we clean, but above the cleaning limit: stored as sent
    unreadable = "unreadable"  # looked like a type we clean but did not parse: stored as sent
    unsupported = "unsupported"  # a type we do not clean: stored as sent


# Sniffed kind -> content type; "zip" is decided (docx, xlsx, pptx) once the whole file is in.
CLEANABLE = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
SNIFF_BYTES = 12  # enough to tell every kind below apart


@dataclass(frozen=True)
class Cleaning:
    """What happened to one file's metadata; ``removed`` are codes for the view to phrase:
    exif, gps, xmp, iptc, comment, text, time, tags, app_data, trailing_data, pdf_info,
    core_properties, app_properties, custom_properties."""

    state: CleanState
    kind: str | None = None
    removed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "kind": self.kind, "removed": list(self.removed)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cleaning:
        return cls(CleanState(data["state"]), data.get("kind"), tuple(data.get("removed", ())))


@dataclass(frozen=True)
class Cleaned:
    data: bytes  # the cleaned file, or the file as sent when it could not be cleaned
    cleaning: Cleaning


def sniff(head: bytes) -> str | None:
    """The kind of file its first bytes announce, among those we clean (``zip`` for Office)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def _office_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return cleaning_documents.office_kind(archive)
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


_CLEANERS: dict[str, Callable[[bytes], tuple[bytes, list[str]]]] = {
    "jpeg": cleaning_images.clean_jpeg,
    "png": cleaning_images.clean_png,
    "webp": cleaning_images.clean_webp,
    "tiff": cleaning_images.clean_tiff,
    "pdf": cleaning_documents.clean_pdf,
    "docx": cleaning_documents.clean_office,
    "xlsx": cleaning_documents.clean_office,
    "pptx": cleaning_documents.clean_office,
}


def kind_of(data: bytes) -> str | None:
    """The kind of a whole file, among those we clean (Office packages told apart)."""
    kind = sniff(data[:SNIFF_BYTES])
    return _office_kind(data) if kind == "zip" else kind


def clean(data: bytes) -> Cleaned:
    """``data`` without its metadata when it is a kind we clean and it parses, else as sent."""
    kind = kind_of(data)
    if kind is None:
        return Cleaned(data, Cleaning(CleanState.unsupported))
    try:
        cleaned, removed = _CLEANERS[kind](data)
    except Exception:  # hostile input: whatever a parser raises, the file is kept as sent
        return Cleaned(data, Cleaning(CleanState.unreadable, kind))
    if not removed:
        return Cleaned(cleaned, Cleaning(CleanState.nothing_found, kind))
    return Cleaned(cleaned, Cleaning(CleanState.cleaned, kind, tuple(removed)))


def not_cleaned(head: bytes) -> Cleaning:
    """For a file above the cleaning limit: too large if it is a kind we clean, else unsupported.

    Only the first bytes are known, so a zip counts as Office (the reporter is told it was not
    cleaned; saying "unsupported" of a large .docx would be wrong).
    """
    kind = sniff(head)
    if kind is None:
        return Cleaning(CleanState.unsupported)
    return Cleaning(CleanState.too_large, "office" if kind == "zip" else kind)
