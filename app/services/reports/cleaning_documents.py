"""Metadata out of documents: PDF (with pikepdf) and Office Open XML (docx, xlsx, pptx).

PDF: the document information dictionary (author, creator, dates), every XMP metadata stream
(the document's and those of pages and images), application private data (PieceInfo) and the
document ID go; the file is then written anew by qpdf, which keeps only the objects in use, so
older revisions of an incrementally saved file (and the metadata they held) go too.

Office: docProps/core.xml (author, last modified by, dates), app.xml (company, manager,
template, editing time) and custom.xml are replaced by empty property sets, so every part and
relationship stays valid; the zip entries get one fixed date and no comment. Comments and
tracked changes inside the document keep their authors' names: they are the content.

Each function returns (cleaned bytes, what was removed) and raises on anything it cannot
parse; the caller then keeps the file as it was sent and says so.
"""

from __future__ import annotations

import io
import shutil
import zipfile

import pikepdf

# --- PDF --------------------------------------------------------------------------------------


def clean_pdf(data: bytes) -> tuple[bytes, list[str]]:
    """The PDF without document info, XMP, PieceInfo and ID, written anew."""
    removed: set[str] = set()
    # An encrypted PDF that needs a password raises PasswordError: it is kept as sent.
    with pikepdf.open(io.BytesIO(data)) as pdf:
        info = pdf.trailer.get("/Info")
        if info is not None:
            if len(info.keys()):
                removed.add("pdf_info")
            del pdf.trailer["/Info"]
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                continue
            if "/Metadata" in obj:
                del obj["/Metadata"]
                removed.add("xmp")
            if "/PieceInfo" in obj:
                del obj["/PieceInfo"]
                removed.add("app_data")
        if "/Metadata" in pdf.Root:  # objects does not list the trailer's direct children
            del pdf.Root["/Metadata"]
            removed.add("xmp")
        if "/ID" in pdf.trailer:
            # qpdf would keep the first half of the old ID: a fingerprint of the author's copy.
            del pdf.trailer["/ID"]
        out = io.BytesIO()
        pdf.save(
            out,
            preserve_pdfa=False,
            fix_metadata_version=False,
            encryption=False,
            deterministic_id=True,
        )
    cleaned = out.getvalue()
    with pikepdf.open(io.BytesIO(cleaned)) as check:
        if "/Info" in check.trailer or "/Metadata" in check.Root:
            raise ValueError("metadata left after cleaning")
    # Written anew in any case: older revisions may hold what the latest one no longer shows.
    return cleaned, sorted(removed)


# --- Office Open XML --------------------------------------------------------------------------

MAX_ENTRIES = 5000
MAX_UNCOMPRESSED = 128 * 1024 * 1024  # a zip bomb stops here, not in memory
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_EMPTY_PROPERTIES = {
    "docProps/core.xml": (
        "core_properties",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b"<cp:coreProperties"
        b' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        b' xmlns:dcterms="http://purl.org/dc/terms/"'
        b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>',
    ),
    "docProps/app.xml": (
        "app_properties",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b"<Properties"
        b' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
        b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>',
    ),
    "docProps/custom.xml": (
        "custom_properties",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b"<Properties"
        b' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
        b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>',
    ),
}
_OFFICE_KINDS = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}


def office_kind(archive: zipfile.ZipFile) -> str | None:
    """``docx``, ``xlsx`` or ``pptx`` for an Office Open XML package, else None."""
    names = archive.namelist()
    if "[Content_Types].xml" not in names:
        return None
    for prefix, kind in _OFFICE_KINDS.items():
        if any(name.startswith(prefix) for name in names):
            return kind
    return None


def clean_office(data: bytes) -> tuple[bytes, list[str]]:
    """The package with empty document properties and fixed entry dates."""
    removed: set[str] = set()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        if office_kind(source) is None:
            raise ValueError("not an Office Open XML package")
        entries = source.infolist()
        names = [entry.filename for entry in entries]
        if len(entries) > MAX_ENTRIES or len(set(names)) != len(names):
            raise ValueError("too many or duplicate entries")
        if sum(entry.file_size for entry in entries) > MAX_UNCOMPRESSED:
            raise ValueError("too large once uncompressed")
        with zipfile.ZipFile(out, "w") as target:
            for entry in entries:
                fresh = zipfile.ZipInfo(entry.filename, date_time=_FIXED_DATE)
                fresh.compress_type = entry.compress_type
                fresh.external_attr = 0o600 << 16
                replacement = _EMPTY_PROPERTIES.get(entry.filename)
                if replacement is not None:
                    removed.add(replacement[0])
                    target.writestr(fresh, replacement[1])
                    continue
                fresh.file_size = entry.file_size
                with source.open(entry) as src, target.open(fresh, "w") as dst:
                    # Bounded by the uncompressed sizes checked above; the CRC is checked too.
                    shutil.copyfileobj(src, dst, 64 * 1024)
    return out.getvalue(), sorted(removed)
