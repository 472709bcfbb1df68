"""Metadata out of documents: PDF (with pikepdf) and Office Open XML (docx, xlsx, pptx).

PDF: the document information dictionary (author, creator, dates), every XMP metadata stream
(the document's and those of pages and images), application private data (PieceInfo) and the
document ID go; the file is then written anew by qpdf, which keeps only the objects in use, so
older revisions of an incrementally saved file (and the metadata they held) go too. Streams
are copied as they are, never decoded (a few kilobytes of nested Flate filters decode to
gigabytes), except the two kinds that hide metadata of their own, each decoded within
``MAX_DECODED``: JPEG images (DCTDecode), whose EXIF, XMP and comments are cut out segment by
segment without decoding a pixel, and embedded files (attachments), cleaned like an upload
(``clean_part``) or, when they cannot be, removed. Comments (annotations) lose their times
(/M, /CreationDate); their authors' names (/T) are kept, as Office comments' are.

Office: the core, extended (company, manager, template, editing time) and custom properties
are replaced by empty property sets, so every part and relationship stays valid; they are
found through the package's relationships (``_rels/.rels``), wherever they are, and under
their usual names. Every other part that is not XML is given to the cleaner (pictures, the
thumbnail, embedded documents, under any name); the XML parts lose Excel's absPath (the folder
the author saved in) and Word's revision save ids (w:rsid, a fingerprint of one copy's editing
sessions); the zip entries get one fixed date and no comment. Comments and tracked changes
inside the document keep their authors' names: they are the content, and the note
``authors_kept`` says so, so that the receipt never calls such a file free of names. A part
meant to be a file that cannot be cleaned (a kind we do not clean, such as a GIF or an OLE
object) is kept, and named in the notes.

Each function returns (cleaned bytes, what was removed, notes about embedded parts) and raises
on anything it cannot parse; the caller then keeps the file as it was sent and says so. Notes
are (code, name) pairs: ``embedded_cleaned``, ``embedded_removed`` (could not be cleaned and
was taken out), ``embedded_kept`` (could not be cleaned and is still there),
``images_kept`` (a count of PDF images of a kind we do not clean, such as JPEG 2000),
``authors_kept`` (names of authors of comments or changes are still in the document).
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import shutil
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator

import pikepdf

from app.services.reports import cleaning_images
from app.services.reports.cleaning_bounds import MAX_DECODED, TooLargeToClean, inflate

# (data) -> (state, cleaned data, removed codes, notes): the whole cleaner, one level deeper.
PartCleaner = Callable[[bytes], tuple[str, bytes, list[str], list[tuple[str, str]]]]
Notes = list[tuple[str, str]]
MAX_NAME = 120

# --- PDF --------------------------------------------------------------------------------------

_EF_KEYS = ("/F", "/UF", "/DOS", "/Mac", "/Unix")


def _filters(stream: pikepdf.Object) -> list[str]:
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, pikepdf.Array):
        return [str(item) for item in value]
    return [str(value)]


def _has_parms(stream: pikepdf.Object, upto: int) -> bool:
    """Whether any of the first ``upto`` filters has decode parameters (a predictor)."""
    parms = stream.get("/DecodeParms")
    if parms is None:
        return False
    if isinstance(parms, pikepdf.Array):
        return any(isinstance(p, pikepdf.Dictionary) and len(p.keys()) for p in list(parms)[:upto])
    return upto > 0 and isinstance(parms, pikepdf.Dictionary) and len(parms.keys()) > 0


def _decoded(stream: pikepdf.Object) -> bytes:
    """An embedded file's bytes: Flate (any number of times) or none, within MAX_DECODED."""
    filters = _filters(stream)
    if any(f != "/FlateDecode" for f in filters) or _has_parms(stream, len(filters)):
        raise ValueError("an embedded file's encoding that is not cleaned")
    raw = stream.read_raw_bytes()
    if len(raw) > MAX_DECODED:
        raise TooLargeToClean("embedded file too large")
    return inflate(raw, len(filters))


def _children(obj: pikepdf.Object) -> Iterator[pikepdf.Object]:
    if isinstance(obj, pikepdf.Array):
        yield from obj
    elif isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        for _key, value in obj.items():
            yield value


def _dictionaries(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """Every dictionary (and stream), direct or not, wherever it is."""
    pending = [*pdf.objects, pdf.trailer]
    while pending:
        obj = pending.pop()
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
        for child in _children(obj):
            if isinstance(child, pikepdf.Array | pikepdf.Dictionary) and not child.is_indirect:
                pending.append(child)


def _file_specs(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """Every dictionary with embedded files (/EF), direct or not, wherever it is."""
    for obj in _dictionaries(pdf):
        if isinstance(obj, pikepdf.Dictionary) and "/EF" in obj:
            yield obj


_ANNOTATION_TIMES = ("/M", "/CreationDate")


def _clean_annotations(pdf: pikepdf.Pdf, removed: set[str], notes: Notes) -> None:
    """Comments (annotations) lose their times; their authors (/T) are kept, as the content
    they are (like the authors of Office comments), and said to be kept."""
    authors = False
    for obj in list(_dictionaries(pdf)):
        if "/Subtype" not in obj or "/Rect" not in obj:
            continue  # not an annotation
        for key in _ANNOTATION_TIMES:
            if key in obj:
                del obj[key]
                removed.add("time")
        author = obj.get("/T")
        if obj.get("/Subtype") != pikepdf.Name.Widget and isinstance(author, pikepdf.String):
            authors = authors or bool(str(author).strip())
    if authors:
        notes.append(("authors_kept", ""))


def _spec_name(spec: pikepdf.Object) -> str:
    for key in ("/UF", "/F"):
        value = spec.get(key)
        if isinstance(value, pikepdf.String):
            return str(value)[:MAX_NAME]
    return ""


def _clean_embedded(
    pdf: pikepdf.Pdf, clean_part: PartCleaner, removed: set[str], notes: Notes
) -> set[tuple[int, int]]:
    """Clean every embedded file, or take it out; return the streams it concerned."""
    done: set[tuple[int, int]] = set()
    for spec in list(_file_specs(pdf)):
        name = _spec_name(spec)
        files = spec.get("/EF")
        if not isinstance(files, pikepdf.Dictionary):
            del spec["/EF"]
            continue
        streams = [files[k] for k in _EF_KEYS if isinstance(files.get(k), pikepdf.Stream)]
        outcome = None
        for stream in streams:
            if stream.objgen in done:
                continue
            done.add(stream.objgen)
            try:
                state, data, codes, inner = clean_part(_decoded(stream))
            except (ValueError, zlib.error):
                state, data, codes, inner = "unreadable", b"", [], []
            if state not in ("cleaned", "nothing_found"):
                outcome = "embedded_removed"
                break
            if state == "cleaned":
                outcome = "embedded_cleaned"
            removed.update(codes)
            notes.extend(inner)
            stream.write(zlib.compress(data), filter=pikepdf.Name.FlateDecode)
            for key in ("/DecodeParms", "/DL"):
                if key in stream:
                    del stream[key]
            params = stream.get("/Params")
            if isinstance(params, pikepdf.Dictionary):
                for key in ("/ModDate", "/CreationDate", "/CheckSum", "/Mac"):
                    if key in params:
                        removed.add("time")
                        del params[key]
                params["/Size"] = len(data)
        if outcome == "embedded_removed":
            del spec["/EF"]
            if "/RF" in spec:
                del spec["/RF"]
        if outcome:
            notes.append((outcome, name))
    # Embedded file streams no file specification names are not written out (unused objects).
    return done


def _clean_images(
    pdf: pikepdf.Pdf, skip: set[tuple[int, int]], removed: set[str], notes: Notes
) -> None:
    """JPEG streams (images, thumbnails) lose their EXIF, XMP and comments; pixels untouched."""
    kept = 0
    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Stream) or obj.objgen in skip:
            continue
        filters = _filters(obj)
        if "/JPXDecode" in filters:
            kept += 1  # JPEG 2000 boxes may hold metadata we do not take out
            continue
        if not filters or filters[-1] != "/DCTDecode":
            continue
        if any(f != "/FlateDecode" for f in filters[:-1]) or _has_parms(obj, len(filters) - 1):
            kept += 1
            continue
        jpeg = inflate(obj.read_raw_bytes(), len(filters) - 1)
        try:
            cleaned, codes = cleaning_images.clean_jpeg(jpeg)
        except TooLargeToClean:
            raise
        except Exception:  # a picture Pillow does not read: the rest is cleaned all the same
            kept += 1
            continue
        if not codes:
            continue
        removed.update(codes)
        parms = obj.get("/DecodeParms")
        if isinstance(parms, pikepdf.Array):
            parms = parms[len(parms) - 1] if len(parms) else None
        parms = parms if isinstance(parms, pikepdf.Dictionary) else None
        if len(filters) > 1:
            # Deflated again: a JPEG of stuffed bytes inflates a thousandfold (62 kB of PDF
            # made 60 MB), and the stored file must not be what the sender's Flate hid.
            flate = [pikepdf.Name.FlateDecode, pikepdf.Name.DCTDecode]
            obj.write(
                zlib.compress(cleaned),
                filter=pikepdf.Array(flate),
                decode_parms=pikepdf.Array([None, parms]) if parms is not None else None,
            )
            continue
        obj.write(cleaned, filter=pikepdf.Name.DCTDecode, decode_parms=parms)
    if kept:
        notes.append(("images_kept", str(kept)))


def clean_pdf(data: bytes, clean_part: PartCleaner) -> tuple[bytes, list[str], Notes]:
    """The PDF without document info, XMP, PieceInfo, ID and image EXIF, written anew, its
    embedded files cleaned or removed."""
    removed: set[str] = set()
    notes: Notes = []
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
        embedded = _clean_embedded(pdf, clean_part, removed, notes)
        _clean_images(pdf, embedded, removed, notes)
        _clean_annotations(pdf, removed, notes)
        out = io.BytesIO()
        pdf.save(
            out,
            preserve_pdfa=False,
            fix_metadata_version=False,
            encryption=False,
            deterministic_id=True,
            # Streams are written as they were read: decoding them is what a bomb wants.
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
            compress_streams=False,
        )
    cleaned = out.getvalue()
    with pikepdf.open(io.BytesIO(cleaned)) as check:
        if "/Info" in check.trailer or "/Metadata" in check.Root:
            raise ValueError("metadata left after cleaning")
    # Written anew in any case: older revisions may hold what the latest one no longer shows.
    return cleaned, sorted(removed), notes


# --- Office Open XML --------------------------------------------------------------------------

MAX_ENTRIES = 5000
MAX_UNCOMPRESSED = 128 * 1024 * 1024  # a zip bomb stops here, not in memory
MAX_RATIO = 200  # Office parts compress 2 to 50 times; a bomb 1,000
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_EMPTY_PROPERTIES = {
    "core": (
        "core_properties",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b"<cp:coreProperties"
        b' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        b' xmlns:dcterms="http://purl.org/dc/terms/"'
        b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>',
    ),
    "extended": (
        "app_properties",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b"<Properties"
        b' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
        b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>',
    ),
    "custom": (
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


# Where the properties and the thumbnail are when the package relationships do not say.
_USUAL_PARTS = {
    "docProps/core.xml": "core",
    "docProps/app.xml": "extended",
    "docProps/custom.xml": "custom",
}
# The package relationship types (last word, lower case, without hyphens; transitional and
# strict) of the parts that are the document's properties and its thumbnail.
_RELATIONSHIP_KINDS = {
    "coreproperties": "core",
    "extendedproperties": "extended",
    "customproperties": "custom",
    "thumbnail": "thumbnail",
}
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_ATTRIBUTE = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
MAX_RELATIONSHIPS_BYTES = 1024 * 1024


def _package_parts(source: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Part name -> "core", "extended", "custom" or "thumbnail": the parts the package's
    relationships (``_rels/.rels``) name so, wherever they are, and the usual names."""
    parts = {name: kind for name, kind in _USUAL_PARTS.items() if name in names}
    if "_rels/.rels" not in names or source.getinfo("_rels/.rels").file_size > (
        MAX_RELATIONSHIPS_BYTES
    ):
        return parts
    for tag in _RELATIONSHIP.findall(source.read("_rels/.rels")):
        attributes = {
            key.split(b":")[-1].decode("ascii", "replace"): html.unescape(
                (double or single).decode("utf-8", "replace")
            )
            for key, double, single in _ATTRIBUTE.findall(tag)
        }
        if attributes.get("TargetMode", "").lower() == "external":
            continue
        kind = attributes.get("Type", "").rstrip("/").rsplit("/", 1)[-1]
        kind = _RELATIONSHIP_KINDS.get(kind.replace("-", "").lower())
        target = urllib.parse.unquote(attributes.get("Target", ""))
        name = posixpath.normpath("/" + target.replace("\\", "/")).lstrip("/")
        if kind and name in names:
            parts[name] = kind
    return parts


def _is_part_to_clean(name: str) -> bool:
    """Pictures, the thumbnail and embedded documents: files of their own inside the package."""
    folders = name.split("/")
    return (
        "media" in folders[:-1]
        or "embeddings" in folders[:-1]
        or (name.startswith("docProps/thumbnail."))
    )


# Paths on the author's computer: Excel's absPath (the folder the workbook was saved in),
# whether in its mc:AlternateContent wrapper or bare.
_ABS_PATH = re.compile(
    rb"<mc:AlternateContent\b[^>]*>\s*<mc:Choice\b[^>]*>\s*<(\w+:)?absPath\b[^>]*?"
    rb"(?:/>|>[^<]*</(?:\w+:)?absPath>)\s*</mc:Choice>\s*</mc:AlternateContent>"
    rb"|<(?:\w+:)?absPath\b[^>]*?(?:/>|>[^<]*</(?:\w+:)?absPath>)"
)
# Word's revision save ids (w:rsid...): the same in every document saved in one editing
# session of one copy, a fingerprint that links documents to one computer.
_RSID_ATTRIBUTE = re.compile(rb"""\s(?:\w+:)?rsid\w*\s*=\s*["'][0-9A-Fa-f]{1,8}["']""")
_RSIDS = re.compile(
    rb"<(?:\w+:)?rsids\b[^>]*/>|<(?:\w+:)?rsids\b[^>]*>.*?</(?:\w+:)?rsids>", re.DOTALL
)
# Authors of comments and tracked changes (kept: they are the content, and said to be kept).
_AUTHOR = re.compile(
    rb"""\s(?:\w+:)?(?:author|initials)\s*=\s*["'][^"'\s]|<(?:\w+:)?(?:author|person)\b[^>]*>\s*[^<\s]"""
)
_AUTHOR_PARTS = ("word/people.xml", "ppt/commentAuthors.xml", "ppt/authors.xml", "xl/persons/")


def _template_name(tag: re.Match) -> bytes:
    """A relationship to the template a document was made from, by its file name only: the
    full path names the author's folders (C:\\Users\\<name>\\...)."""
    relationship = tag.group()
    if not re.search(rb"""Type\s*=\s*["'][^"']*/attachedTemplate["']""", relationship):
        return relationship
    return _TARGET.sub(_file_name_only, relationship)


_TARGET = re.compile(rb"""(\bTarget\s*=\s*)(["'])([^"']*)\2""")


def _file_name_only(target: re.Match) -> bytes:
    path = target.group(3).replace(b"\\", b"/").rstrip(b"/")
    return target.group(1) + target.group(2) + path.rsplit(b"/", 1)[-1] + target.group(2)


def _clean_xml(name: str, xml: bytes, removed: set[str]) -> tuple[bytes, bool]:
    """An XML part without the author's file paths and Word's editing fingerprints; and
    whether it names authors of comments or changes."""
    original = xml
    xml = _ABS_PATH.sub(b"", xml)
    if name.endswith(".rels"):
        xml = _RELATIONSHIP.sub(_template_name, xml)
    if xml != original:
        removed.add("file_path")
    if name.startswith("word/"):
        xml, count = _RSID_ATTRIBUTE.subn(b"", xml)
        xml, more = _RSIDS.subn(b"", xml)
        if count or more:
            removed.add("edit_ids")
    authors = name.startswith(_AUTHOR_PARTS) or bool(_AUTHOR.search(xml))
    return xml, authors


def _expected_file(name: str, kind: str | None) -> bool:
    """Whether a part is meant to be a file of its own (a picture, the thumbnail, an embedded
    document): one of a kind we do not clean is then named as kept."""
    return kind == "thumbnail" or _is_part_to_clean(name)


def clean_office(data: bytes, clean_part: PartCleaner) -> tuple[bytes, list[str], Notes]:
    """The package with empty document properties, its pictures, thumbnail and embedded
    documents cleaned, file paths and editing ids out of its XML, and fixed entry dates."""
    removed: set[str] = set()
    notes: Notes = []
    authors = False
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        if office_kind(source) is None:
            raise ValueError("not an Office Open XML package")
        entries = source.infolist()
        names = [entry.filename for entry in entries]
        if len(entries) > MAX_ENTRIES or len(set(names)) != len(names):
            raise ValueError("too many or duplicate entries")
        if sum(entry.file_size for entry in entries) > MAX_UNCOMPRESSED:
            raise TooLargeToClean("too large once uncompressed")
        for entry in entries:
            # A few kilobytes that claim to unpack to megabytes are a bomb, not a document.
            if entry.file_size > 1024 * 1024 and entry.file_size > MAX_RATIO * entry.compress_size:
                raise TooLargeToClean("an entry compressed past any document's ratio")
        special = _package_parts(source, set(names))
        with zipfile.ZipFile(out, "w") as target:
            for entry in entries:
                fresh = zipfile.ZipInfo(entry.filename, date_time=_FIXED_DATE)
                fresh.compress_type = entry.compress_type
                fresh.external_attr = 0o600 << 16
                kind = special.get(entry.filename)
                replacement = _EMPTY_PROPERTIES.get(kind or "")
                if replacement is not None:
                    removed.add(replacement[0])
                    target.writestr(fresh, replacement[1])
                    continue
                name = entry.filename.rsplit("/", 1)[-1][:MAX_NAME]
                small = entry.file_size <= MAX_DECODED
                if entry.filename.endswith((".xml", ".rels", ".vml")):
                    if small:
                        xml, named = _clean_xml(entry.filename, source.read(entry), removed)
                        authors = authors or named
                        target.writestr(fresh, xml)
                        continue
                    notes.append(("embedded_kept", name))
                elif small:
                    # Any part may be a picture or a document, whatever its name (a thumbnail
                    # named otherwise): each is given to the cleaner, which tells by content.
                    part = source.read(entry)  # bounded: sizes checked above, CRC checked
                    state, cleaned, codes, inner = clean_part(part)
                    notes.extend(inner)
                    if state in ("cleaned", "nothing_found"):
                        removed.update(codes)
                        if state == "cleaned":
                            notes.append(("embedded_cleaned", name))
                        target.writestr(fresh, cleaned)
                        continue
                    if state != "unsupported" or _expected_file(entry.filename, kind):
                        notes.append(("embedded_kept", name))
                elif _expected_file(entry.filename, kind):
                    notes.append(("embedded_kept", name))
                fresh.file_size = entry.file_size
                with source.open(entry) as src, target.open(fresh, "w") as dst:
                    # Bounded by the uncompressed sizes checked above; the CRC is checked too.
                    shutil.copyfileobj(src, dst, 64 * 1024)
    if authors:
        notes.append(("authors_kept", ""))
    return out.getvalue(), sorted(removed), notes
