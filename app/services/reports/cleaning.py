"""Removing what a file says about its author: EXIF (with GPS), XMP, IPTC, comments, document
properties. Files are recognised by their content, never by their name or declared type.

JPEG, PNG, WebP and TIFF: ``cleaning_images``; PDF and Office Open XML: ``cleaning_documents``,
which clean the pictures and files inside a document with the same cleaners (``clean_here``).
Cleaning needs the whole file in memory, so only files up to the upload's cleaning limit are
cleaned; larger ones, and files that cannot be parsed, are stored as sent and the reporter is
told which and why (``Cleaning.state``). A file that gives any parser trouble is never half
cleaned: it is cleaned entirely or kept exactly as it was; only embedded parts that cannot be
cleaned are kept or removed within a cleaned document, and named (``Cleaning.notes``).

Parsers of hostile files run in a process of their own with hard limits: the server calls
``cleaning_process.clean``, which runs ``clean_here`` there.
"""

from __future__ import annotations

import enum
import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from app.services.reports import cleaning_documents, cleaning_images
from app.services.reports.cleaning_bounds import MAX_DEPTH, TooLargeToClean


class CleanState(enum.StrEnum):
    cleaned = "cleaned"  # metadata was found and removed
    # A type we clean, and none of what it looks for was there; what it keeps by design
    # (authors of comments) is in the notes, and the receipt says so.
    nothing_found = "nothing_found"
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
    core_properties, app_properties, custom_properties, file_path, edit_ids (from the file or
    the parts in it).
    ``notes`` are (code, name) pairs about the parts inside a document: see
    ``cleaning_documents``."""

    state: CleanState
    kind: str | None = None
    removed: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "kind": self.kind,
            "removed": list(self.removed),
            "notes": [list(note) for note in self.notes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cleaning:
        return cls(
            CleanState(data["state"]),
            data.get("kind"),
            tuple(data.get("removed", ())),
            tuple((str(code), str(name)) for code, name in data.get("notes", ())),
        )


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


def _images(
    cleaner: Callable[[bytes], tuple[bytes, list[str]]],
) -> Callable[[bytes, Any], tuple[bytes, list[str], list[tuple[str, str]]]]:
    return lambda data, _clean_part: (*cleaner(data), [])


_CLEANERS: dict[str, Callable[[bytes, Any], tuple[bytes, list[str], list[tuple[str, str]]]]] = {
    "jpeg": _images(cleaning_images.clean_jpeg),
    "png": _images(cleaning_images.clean_png),
    "webp": _images(cleaning_images.clean_webp),
    "tiff": _images(cleaning_images.clean_tiff),
    "pdf": cleaning_documents.clean_pdf,
    "docx": cleaning_documents.clean_office,
    "xlsx": cleaning_documents.clean_office,
    "pptx": cleaning_documents.clean_office,
}


def kind_of(data: bytes) -> str | None:
    """The kind of a whole file, among those we clean (Office packages told apart)."""
    kind = sniff(data[:SNIFF_BYTES])
    return _office_kind(data) if kind == "zip" else kind


def clean_here(data: bytes, depth: int = 0) -> Cleaned:
    """``data`` without its metadata when it is a kind we clean and it parses, else as sent.

    In this process: only where limits of its own hold (``cleaning_process``'s child)."""
    kind = kind_of(data) if depth <= MAX_DEPTH else None
    if kind is None:
        return Cleaned(data, Cleaning(CleanState.unsupported))

    def clean_part(part: bytes) -> tuple[str, bytes, list[str], list[tuple[str, str]]]:
        done = clean_here(part, depth + 1)
        inner = list(done.cleaning.notes)
        return done.cleaning.state.value, done.data, list(done.cleaning.removed), inner

    try:
        cleaned, removed, notes = _CLEANERS[kind](data, clean_part)
    except (TooLargeToClean, Image.DecompressionBombError, MemoryError):
        return Cleaned(data, Cleaning(CleanState.too_large, kind))
    except Exception:  # hostile input: whatever a parser raises, the file is kept as sent
        return Cleaned(data, Cleaning(CleanState.unreadable, kind))
    state = CleanState.cleaned if removed else CleanState.nothing_found
    return Cleaned(cleaned, Cleaning(state, kind, tuple(removed), tuple(notes)))


def not_cleaned(head: bytes) -> Cleaning:
    """For a file above the cleaning limit: too large if it is a kind we clean, else unsupported.

    Only the first bytes are known, so a zip counts as Office (the reporter is told it was not
    cleaned; saying "unsupported" of a large .docx would be wrong).
    """
    kind = sniff(head)
    if kind is None:
        return Cleaning(CleanState.unsupported)
    return Cleaning(CleanState.too_large, "office" if kind == "zip" else kind)
