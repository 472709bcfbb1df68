"""Metadata out of images: JPEG, PNG and WebP losslessly, TIFF by a lossless re-encode.

JPEG, PNG and WebP are containers of segments or chunks: the ones that carry metadata (EXIF
with GPS and thumbnails, XMP, IPTC, comments, text chunks, vendor data, data after the end of
the image) are dropped and the picture's own bytes are copied as they are, so a photo used as
evidence keeps every pixel. Pillow checks the input before and the output after. A JPEG keeps
its orientation as a one-tag EXIF block, so it is not shown on its side.

TIFF keeps metadata in the same directories as the picture's layout, so Pillow decodes it and
writes the pixels again without them (deflate: lossless). That needs the decoded picture in
memory, hence a lower pixel limit for TIFF.

Each function returns (cleaned bytes, what was removed) and raises on anything it cannot
parse; the caller then keeps the file as it was sent and says so.
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageSequence

from app.services.reports.cleaning_bounds import TooLargeToClean

# Pillow reads only the headers of JPEG, PNG and WebP (their pixels are never decoded: a
# progressive 9,400 x 9,400 JPEG of 1 MB would take half a gigabyte); TIFFs are decoded in full.
MAX_PIXELS = 89_000_000  # Pillow's own limit: past it, open() warns or refuses
MAX_TIFF_PIXELS = 25_000_000
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769

# --- JPEG -------------------------------------------------------------------------------------

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
# Segments walked one by one in Python: photos have a few dozen. Past this, a file of empty
# segments would cost a Python step every four bytes: too costly to clean.
MAX_JPEG_SEGMENTS = 10_000
_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}
_XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


def _exif_notes(exif_block: bytes, removed: set[str]) -> int | None:
    """Note what an EXIF block held; return its orientation (if not the default)."""
    removed.add("exif")
    exif = Image.Exif()
    try:
        exif.load(exif_block)
        if exif.get_ifd(_GPS_IFD):
            removed.add("gps")
        orientation = exif.get(_ORIENTATION)
    except Exception:  # a damaged block is removed all the same
        return None
    return orientation if isinstance(orientation, int) and 2 <= orientation <= 8 else None


def _jpeg_segment_kept(marker: int, body: bytes, removed: set[str], found: dict) -> bool:
    if marker == 0xE1:
        if body.startswith(b"Exif\x00\x00"):
            found.setdefault("orientation", _exif_notes(body[6:], removed))
        elif body.startswith(_XMP_PREFIXES):
            removed.add("xmp")
        else:
            removed.add("app_data")
        return False
    if marker == 0xED:
        removed.add("iptc")
        return False
    if marker == _COM:
        removed.add("comment")
        return False
    if 0xE0 <= marker <= 0xEF:
        prefix = _KEEP_APP.get(marker)
        if prefix is not None and body.startswith(prefix):
            return True
        removed.add("app_data")
        return False
    return True


# In entropy-coded data a 0xFF is followed by 00 (a stuffed byte), by a restart marker
# (D0-D7) or by more FFs (fill): the first FF followed by anything else begins a marker.
# Found by the regular expression engine, not byte by byte in Python: a 62 kB PDF held a
# JPEG of 30 MiB of stuffed bytes, which took six seconds of CPU to walk here.
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Standalone markers (restart, TEM, SOI) with their fill bytes, as many as follow each other.
_STANDALONE_RUN = re.compile(rb"(?:\xff+[\x01\xd0-\xd8])+")
_FILL = re.compile(rb"\xff+")


def _scan_end(data: bytes, start: int) -> int:
    """Where the entropy-coded data that starts at ``start`` ends (at the next marker)."""
    found = _MARKER_IN_SCAN.search(data, start)
    if found is None:
        raise ValueError("JPEG scan runs past the end")
    return found.start()


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    body = exif.tobytes()
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def clean_jpeg(data: bytes) -> tuple[bytes, list[str]]:
    """Drop APP1 (EXIF, XMP), APP13 (IPTC), comments, other vendor segments, trailing data."""
    _check_image(data, "JPEG", MAX_PIXELS)
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    out = [b"\xff\xd8"]
    removed: set[str] = set()
    found: dict = {}
    at = 2
    for _segment in range(MAX_JPEG_SEGMENTS):
        if at >= len(data) or data[at] != 0xFF:
            raise ValueError("JPEG marker expected")
        run = _STANDALONE_RUN.match(data, at)
        if run is not None:  # kept, without their fill bytes, in one step however many
            out.append(_FILL.sub(b"\xff", run.group()))
            at = run.end()
            continue
        at = _FILL.match(data, at).end()
        if at >= len(data):
            raise ValueError("JPEG ends inside a marker")
        marker = data[at]
        at += 1
        if marker == _EOI:
            out.append(b"\xff\xd9")
            if data[at:].strip(b"\x00"):
                removed.add("trailing_data")  # e.g. a second picture with its own EXIF
            break
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2 or at + length > len(data):
            raise ValueError("JPEG segment runs past the end")
        body = data[at + 2 : at + length]
        if _jpeg_segment_kept(marker, body, removed, found):
            out.append(bytes((0xFF, marker)) + data[at : at + length])
        at += length
        if marker == _SOS:
            end = _scan_end(data, at)
            out.append(data[at:end])
            at = end
    else:
        raise TooLargeToClean("too many JPEG segments to clean")
    if not removed:
        return data, []
    orientation = found.get("orientation")
    if orientation:
        # After the JFIF segment when there is one (it must come first), else after SOI.
        place = 2 if len(out) > 1 and out[1].startswith(b"\xff\xe0") else 1
        out.insert(place, _orientation_segment(orientation))
    cleaned = b"".join(out)
    _check_image(cleaned, "JPEG", MAX_PIXELS, allowed_exif={_ORIENTATION})
    return cleaned, sorted(removed)


# --- PNG --------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks that change how the picture looks (colour, transparency, animation).
_PNG_KEEP = {
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs",
    b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv", b"cLLi",
}  # fmt: skip
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}


def clean_png(data: bytes) -> tuple[bytes, list[str]]:
    """Keep the critical chunks and those that change the picture; drop text, EXIF, times.

    Pillow sees only what is kept: the text chunks it would decompress (a zTXt chunk can
    hold a bomb) are dropped unread."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    out = [_PNG_SIGNATURE]
    removed: set[str] = set()
    at = len(_PNG_SIGNATURE)
    while True:
        if at + 12 > len(data):
            raise ValueError("PNG ends before IEND")
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError("PNG chunk runs past the end")
        if kind[:1].isupper() or kind in _PNG_KEEP:  # critical chunks have an upper-case first
            out.append(data[at:end])
        elif kind in _PNG_TEXT:
            xmp = kind == b"iTXt" and data[at + 8 : at + 26] == b"XML:com.adobe.xmp\x00"
            removed.add("xmp" if xmp else "text")
        elif kind == b"eXIf":
            _exif_notes(data[at + 8 : end - 4], removed)
        elif kind == b"tIME":
            removed.add("time")
        else:
            removed.add("app_data")
        at = end
        if kind == b"IEND":
            if data[at:]:
                removed.add("trailing_data")
            break
    if not removed:
        _check_image(data, "PNG", allowed_exif=set())
        return data, []
    cleaned = b"".join(out)
    _check_image(cleaned, "PNG", allowed_exif=set())
    return cleaned, sorted(removed)


# --- WebP -------------------------------------------------------------------------------------

_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def clean_webp(data: bytes) -> tuple[bytes, list[str]]:
    """Drop the EXIF and XMP chunks (and unknown ones), and their flags in VP8X."""
    _check_image(data, "WEBP")
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > len(data):
        raise ValueError("WebP shorter than its RIFF size")
    chunks = []
    removed: set[str] = set()
    at = 12
    while at < riff_end:
        if at + 8 > riff_end:
            raise ValueError("WebP chunk header runs past the end")
        kind = data[at : at + 4]
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        end = at + 8 + size + (size & 1)
        if end > riff_end:
            raise ValueError("WebP chunk runs past the end")
        if kind in _WEBP_KEEP:
            chunks.append(bytearray(data[at:end]))
        elif kind == b"EXIF":
            body = data[at + 8 : at + 8 + size]
            _exif_notes(body[6:] if body.startswith(b"Exif\x00\x00") else body, removed)
        elif kind == b"XMP ":
            removed.add("xmp")
        else:
            removed.add("app_data")
        at = end
    if data[riff_end:]:
        removed.add("trailing_data")
    if not removed:
        return data, []
    for chunk in chunks:
        if chunk[:4] == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
    body = b"WEBP" + b"".join(chunks)
    cleaned = b"RIFF" + len(body).to_bytes(4, "little") + body
    _check_image(cleaned, "WEBP", allowed_exif=set())
    return cleaned, sorted(removed)


# --- TIFF -------------------------------------------------------------------------------------

# The tags a page needs to be shown as it is: its layout, encoding and colour. Every other tag,
# in any directory, is metadata (or may be: a tag unknown today is not trusted), and so are
# the EXIF, GPS and other directories they point to.
_TIFF_STRUCTURE = {
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 274, 277, 278, 279, 280, 281, 282, 283,
    284, 290, 291, 292, 293, 296, 301, 317, 318, 319, 320, 322, 323, 324, 325, 334, 338, 339,
    340, 341, 347, 529, 530, 531, 532, 34675,
}  # fmt: skip
# How the tags that are not kept are named to the reporter; any other one is "tags".
_TIFF_TAGS = {
    _GPS_IFD: "gps", _EXIF_IFD: "exif", 700: "xmp", 33723: "iptc", 34377: "iptc",
    37724: "app_data", 50341: "app_data",
}  # fmt: skip


def clean_tiff(data: bytes) -> tuple[bytes, list[str]]:
    """Write every page again with its pixels, colour profile and resolution only.

    Always written anew, even when no tag but those of the picture was found: bytes that no
    directory points to (a TIFF may hold anything between its parts) go too."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "TIFF":
            raise ValueError("not a TIFF")
        frames = getattr(image, "n_frames", 1)
        if frames * image.width * image.height > MAX_TIFF_PIXELS:
            raise TooLargeToClean("too many pixels to clean in memory")
        removed: set[str] = set()
        pages = []
        for frame in ImageSequence.Iterator(image):
            extra = set(getattr(frame, "tag_v2", {})) - _TIFF_STRUCTURE
            removed.update(_TIFF_TAGS.get(tag, "tags") for tag in extra)
            if frame.width * frame.height * frames > MAX_TIFF_PIXELS:
                raise TooLargeToClean("too many pixels to clean in memory")
            page = frame.copy()  # a plain image: no TIFF tags come with it
            icc = frame.info.get("icc_profile")
            page.info = {"icc_profile": icc} if icc else {}
            pages.append((page, frame.info.get("dpi")))
    out = io.BytesIO()
    first, dpi = pages[0]
    options: dict = {"compression": "tiff_adobe_deflate"}
    if first.info.get("icc_profile"):
        options["icc_profile"] = first.info["icc_profile"]
    if dpi:
        options["dpi"] = dpi
    first.save(out, "TIFF", save_all=True, append_images=[p for p, _ in pages[1:]], **options)
    cleaned = out.getvalue()
    with Image.open(io.BytesIO(cleaned)) as check:
        for frame in ImageSequence.Iterator(check):
            if set(frame.tag_v2) - _TIFF_STRUCTURE:
                raise ValueError("metadata left after cleaning")
    return cleaned, sorted(removed)


# --- checks -----------------------------------------------------------------------------------


def _check_image(
    data: bytes,
    image_format: str,
    max_pixels: int = MAX_PIXELS,
    allowed_exif: set[int] | None = None,
) -> None:
    """Pillow reads ``data`` as ``image_format``; with ``allowed_exif``, no metadata is left."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format != image_format:
            raise ValueError(f"not a {image_format}")
        if image.width * image.height > max_pixels:
            raise TooLargeToClean("too many pixels")
        if allowed_exif is not None:
            exif = image.getexif()
            left = set(exif) - allowed_exif
            if left or exif.get_ifd(_GPS_IFD) or set(image.info) & {"xmp", "comment", "photoshop"}:
                raise ValueError("metadata left after cleaning")
    if image_format == "PNG":
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # every chunk's CRC, without decoding the pixels
