"""Metadata cleaning on real files made here: GPS EXIF, XMP, comments, document authors (张三)."""

from __future__ import annotations

import io
import struct
import zipfile

import pikepdf
import pytest
from PIL import ExifTags, Image, PngImagePlugin, TiffImagePlugin

from app.services.reports.cleaning import CleanState, kind_of, not_cleaned, sniff
from app.services.reports.cleaning_process import clean

NAME = "张三"
UTF8, UTF16LE, UTF16BE = NAME.encode(), NAME.encode("utf-16-le"), NAME.encode("utf-16-be")
# PDF strings may be written as hex: <feff5f204e09>.
HEX = (UTF16BE.hex().encode(), UTF16BE.hex().upper().encode())


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI"  # Make
    exif[0x9C9D] = UTF16LE + b"\0\0"  # XPAuthor, as Windows writes it
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (39.0, 54.0, 27.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (116.0, 23.0, 1.25)
    return exif


def _picture(mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (96, 64))
    image.putdata(
        [((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(64) for x in range(96)]
    )
    return image


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def _assert_no_name(data: bytes) -> None:
    for encoded in (UTF8, UTF16LE, UTF16BE, *HEX):
        assert encoded not in data


def jpeg_with_metadata(orientation: int | None = 6) -> bytes:
    out = io.BytesIO()
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{NAME}</dc:creator></x:xmpmeta>'
    _picture().save(
        out, "JPEG", quality=92, exif=_exif(orientation), comment=UTF8, xmp=xmp.encode()
    )
    return out.getvalue()


def test_jpeg_loses_gps_exif_xmp_and_comment_but_keeps_pixels_and_orientation():
    original = jpeg_with_metadata()
    assert UTF8 in original and UTF16LE in original
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert result.cleaning.kind == "jpeg"
    assert {"exif", "gps", "xmp", "comment"} <= set(result.cleaning.removed)
    _assert_no_name(result.data)
    assert b"HUAWEI" not in result.data
    with Image.open(io.BytesIO(result.data)) as image:
        assert dict(image.getexif()) == {0x0112: 6}
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"xmp", "comment"} & set(image.info)
    # Not re-encoded: the compressed picture is copied, so it decodes to the same pixels.
    assert _pixels(result.data) == _pixels(original)
    assert len(result.data) < len(original)


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("CMYK", {}),
        ("L", {}),
        ("RGB", {"progressive": True}),
        ("RGB", {"optimize": True, "restart_marker_rows": 1}),
        ("RGB", {"subsampling": 0, "quality": 100}),
    ],
)
def test_every_kind_of_jpeg_keeps_its_pixels(mode, options):
    out = io.BytesIO()
    _picture().convert(mode).save(out, "JPEG", comment=UTF8, **options)
    result = clean(out.getvalue())
    assert result.cleaning.removed == ("comment",)
    _assert_no_name(result.data)
    assert _pixels(result.data) == _pixels(out.getvalue())


def test_jpeg_with_a_second_picture_after_its_end_loses_it():
    original = jpeg_with_metadata(None) + jpeg_with_metadata(None)  # like MPF / gain maps
    result = clean(original)
    assert "trailing_data" in result.cleaning.removed
    _assert_no_name(result.data)
    assert result.data.count(b"\xff\xd9") >= 1 and result.data.endswith(b"\xff\xd9")


def test_a_clean_jpeg_is_kept_byte_for_byte():
    out = io.BytesIO()
    _picture().save(out, "JPEG", quality=90)
    result = clean(out.getvalue())
    assert result.cleaning.state == CleanState.nothing_found
    assert result.data == out.getvalue()


def test_png_loses_text_exif_and_time():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Author", NAME)
    info.add_text("Software", "Meitu")
    info.add(b"tIME", struct.pack(">HBBBBB", 2026, 3, 5, 21, 14, 9))
    out = io.BytesIO()
    _picture().save(out, "PNG", pnginfo=info, exif=_exif())
    original = out.getvalue()
    assert UTF8 in original
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert {"text", "exif", "gps", "time"} <= set(result.cleaning.removed)
    _assert_no_name(result.data)
    assert b"Meitu" not in result.data and b"tIME" not in result.data
    assert _pixels(result.data) == _pixels(original)


def test_webp_loses_exif_and_xmp():
    out = io.BytesIO()
    xmp = f"<x:xmpmeta><dc:creator>{NAME}</dc:creator></x:xmpmeta>".encode()
    _picture().save(out, "WEBP", lossless=True, exif=_exif(), xmp=xmp)
    original = out.getvalue()
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert {"exif", "gps", "xmp"} <= set(result.cleaning.removed)
    _assert_no_name(result.data)
    with Image.open(io.BytesIO(result.data)) as image:
        assert not image.getexif() and "xmp" not in image.info
    assert _pixels(result.data) == _pixels(original)


def tiff_with_gps() -> bytes:
    """An 8x8 grey TIFF with Artist, XMP and a GPS directory, laid out by hand (Pillow writes
    no GPS directory into a TIFF)."""
    pixels = bytes(range(0, 256, 4))
    artist = b"Zhang San\0"
    xmp = f"<x:xmpmeta><dc:creator>{NAME}</dc:creator></x:xmpmeta>".encode()
    entries = 12
    ifd_size = 2 + entries * 12 + 4
    strip = 8 + ifd_size
    artist_at = strip + len(pixels)
    xmp_at = artist_at + len(artist)
    gps_at = xmp_at + len(xmp) + (len(xmp) & 1)
    rational_at = gps_at + 2 + 2 * 12 + 4

    def entry(tag: int, kind: int, count: int, value: int) -> bytes:
        if kind == 3 and count == 1:
            return struct.pack("<HHIHH", tag, kind, count, value, 0)
        return struct.pack("<HHII", tag, kind, count, value)

    ifd = (
        struct.pack("<H", entries)
        + b"".join(
            [
                entry(256, 3, 1, 8),
                entry(257, 3, 1, 8),
                entry(258, 3, 1, 8),
                entry(259, 3, 1, 1),
                entry(262, 3, 1, 1),
                entry(273, 4, 1, strip),
                entry(277, 3, 1, 1),
                entry(278, 3, 1, 8),
                entry(279, 4, 1, len(pixels)),
                entry(315, 2, len(artist), artist_at),
                entry(700, 1, len(xmp), xmp_at),
                entry(34853, 4, 1, gps_at),
            ]
        )
        + struct.pack("<I", 0)
    )
    gps = (
        struct.pack("<H", 2)
        + struct.pack("<HHI", 1, 2, 2)
        + b"N\0\0\0"
        + entry(2, 5, 3, rational_at)
        + struct.pack("<I", 0)
        + struct.pack("<6I", 39, 1, 54, 1, 275, 10)
    )
    return (
        b"II*\0" + struct.pack("<I", 8) + ifd + pixels + artist + xmp + b"\0" * (len(xmp) & 1) + gps
    )


def test_tiff_loses_its_gps_directory_artist_and_xmp():
    original = tiff_with_gps()
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo)[1] == "N"
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned, result.cleaning
    assert {"gps", "xmp", "tags"} <= set(result.cleaning.removed)
    _assert_no_name(result.data)
    assert b"Zhang San" not in result.data
    with Image.open(io.BytesIO(result.data)) as image:
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert 34853 not in image.tag_v2 and 700 not in image.tag_v2
    assert _pixels(result.data) == _pixels(original)


def pdf_with_author() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.docinfo["/Author"] = NAME
    pdf.docinfo["/Title"] = "关于食堂采购的情况反映"
    pdf.docinfo["/Creator"] = "WPS 文字"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [NAME]
        meta["xmp:CreatorTool"] = "WPS Office"
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def test_pdf_loses_document_info_and_xmp():
    original = pdf_with_author()
    assert UTF8 in original and (UTF16BE in original or HEX[0] in original)
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert {"pdf_info", "xmp"} <= set(result.cleaning.removed)
    _assert_no_name(result.data)
    assert b"WPS" not in result.data
    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        assert len(pdf.pages) == 1
        assert "/Info" not in pdf.trailer and "/Metadata" not in pdf.Root
    # The document ID, a fingerprint shared with the author's own copy, is a new one.
    with pikepdf.open(io.BytesIO(original)) as pdf:
        old_id = bytes(pdf.trailer.ID[0]).hex()
    assert old_id.encode() not in result.data.lower()


def test_an_incrementally_saved_pdf_loses_the_author_of_its_first_revision():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = NAME
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    first = out.getvalue()
    assert HEX[0] in first
    # A second revision appended to the file: a trailer without /Info. Readers see no author,
    # but the first revision's bytes are still in the file.
    previous = int(first[first.rindex(b"startxref") + 9 :].split()[0])
    root = pdf.Root.objgen[0]
    update = (
        f"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size {len(pdf.objects) + 1}"
        f" /Root {root} 0 R /Prev {previous} >>\nstartxref\n{len(first)}\n%%EOF\n"
    ).encode()
    second = first + update
    with pikepdf.open(io.BytesIO(second)) as reopened:
        assert "/Author" not in reopened.docinfo
    result = clean(second)
    assert result.cleaning.state == CleanState.nothing_found  # the latest revision had none
    _assert_no_name(result.data)


def docx_with_properties() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as docx:
        docx.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        docx.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        docx.writestr("word/document.xml", "<w:document>举报材料正文</w:document>")
        docx.writestr(
            "docProps/core.xml",
            f"<cp:coreProperties><dc:creator>{NAME}</dc:creator>"
            f"<cp:lastModifiedBy>{NAME}</cp:lastModifiedBy></cp:coreProperties>",
        )
        docx.writestr(
            "docProps/app.xml", "<Properties><Company>华夏重型机械</Company></Properties>"
        )
        docx.writestr(
            "docProps/custom.xml", f"<Properties><vt:lpwstr>{NAME}</vt:lpwstr></Properties>"
        )
    return out.getvalue()


def test_docx_loses_its_document_properties_and_keeps_its_text():
    original = docx_with_properties()
    assert kind_of(original) == "docx"
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert set(result.cleaning.removed) == {
        "core_properties",
        "app_properties",
        "custom_properties",
    }
    with zipfile.ZipFile(io.BytesIO(result.data)) as docx:
        assert docx.testzip() is None
        for name in docx.namelist():
            _assert_no_name(docx.read(name))
        assert "华夏重型机械".encode() not in docx.read("docProps/app.xml")
        assert docx.read("word/document.xml") == "<w:document>举报材料正文</w:document>".encode()
        assert {info.date_time for info in docx.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_zip_that_is_not_office_is_not_cleaned():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("证据/照片.txt", NAME)
    result = clean(out.getvalue())
    assert result.cleaning.state == CleanState.unsupported
    assert result.data == out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + "张三".encode() * 10,  # a JPEG cut short
        b"%PDF-1.7\n" + UTF8 + b"\nno objects here",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
        b"RIFF\xff\xff\xff\x7fWEBPVP8 ",
        b"II*\x00\xff\xff\xff\x7f",
    ],
)
def test_what_does_not_parse_is_kept_as_sent_and_said_so(data):
    result = clean(data)
    assert result.cleaning.state == CleanState.unreadable
    assert result.data == data


def test_other_files_are_unsupported_and_large_ones_too_large():
    text = "会议纪要：张三在会上说……".encode()
    assert clean(text).cleaning.state == CleanState.unsupported
    assert clean(text).data == text
    assert not_cleaned(b"\xff\xd8\xff\xe1").state == CleanState.too_large
    assert not_cleaned(b"PK\x03\x04").kind == "office"
    assert not_cleaned(b"plain text").state == CleanState.unsupported
    assert sniff(b"") is None


def test_the_type_is_read_from_the_content_not_the_name():
    # A PDF is a PDF whatever it is called; cleaning never looks at a name.
    assert kind_of(pdf_with_author()) == "pdf"
    assert kind_of(docx_with_properties()) == "docx"
    assert kind_of(jpeg_with_metadata()) == "jpeg"
    assert kind_of(TiffImagePlugin.__name__.encode()) is None


def _tiff_pages(*pages: dict[int, tuple[int, bytes]], pixels: bytes = bytes(range(64))) -> bytes:
    """An 8x8 grey TIFF (little-endian), one page per ``tags`` (tag -> (type, value)) besides
    those of its layout, laid out by hand: Pillow writes none of the tags used below."""
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    for number, tags in enumerate(pages):
        layout = {256: (3, 8), 257: (3, 8), 258: (3, 8), 259: (3, 1), 262: (3, 1), 277: (3, 1)}
        layout |= {278: (3, 8), 279: (4, len(pixels))}
        count = len(layout) + 1 + len(tags)
        base = len(out)
        extra_at = base + 2 + count * 12 + 4
        blobs = b""
        entries = []
        for tag, (kind, value) in layout.items():
            entries.append((tag, struct.pack("<HHI", tag, kind, 1) + struct.pack("<I", value)))
        for tag, (kind, value) in tags.items():
            at = extra_at + len(blobs)
            entries.append((tag, struct.pack("<HHII", tag, kind, len(value), at)))
            blobs += value + b"\0" * (len(value) & 1)
        strip = extra_at + len(blobs)
        entries.append((273, struct.pack("<HHII", 273, 4, 1, strip)))
        entries.sort()
        following = strip + len(pixels) + (len(pixels) & 1) if number + 1 < len(pages) else 0
        out += struct.pack("<H", count) + b"".join(e for _t, e in entries)
        out += struct.pack("<I", following) + blobs + pixels + b"\0" * (len(pixels) & 1)
    return bytes(out)


def _tiff_page(tags: dict[int, tuple[int, bytes]], pixels: bytes = bytes(range(64))) -> bytes:
    return _tiff_pages(tags, pixels=pixels)


def test_tiff_tags_outside_the_pictures_layout_are_removed_whatever_they_are():
    """XPAuthor and CameraOwnerName in the first directory: not on a deny-list, removed all the
    same (only the tags that lay out the picture are kept)."""
    owner = "王五".encode()
    original = _tiff_page({0x9C9D: (1, UTF16LE + b"\0\0"), 0xA430: (2, owner + b"\0")})
    with Image.open(io.BytesIO(original)) as image:
        assert {0x9C9D, 0xA430} <= set(image.tag_v2)
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned, result.cleaning
    assert "tags" in result.cleaning.removed
    _assert_no_name(result.data)
    assert owner not in result.data
    assert _pixels(result.data) == _pixels(original)


def test_a_tiff_with_only_its_layout_is_written_anew_without_hidden_bytes():
    """Bytes no directory points to are not seen by a tag check: the file is written anew."""
    hidden = "李四的备注".encode()
    original = _tiff_page({}) + hidden
    result = clean(original)
    assert result.cleaning.state == CleanState.nothing_found
    assert hidden not in result.data
    assert _pixels(result.data) == _pixels(original)


def test_a_tiff_later_page_loses_its_tags_too():
    """The author's name on the second page only: every page is checked and written anew."""
    original = _tiff_pages({}, {0x9C9D: (1, UTF16LE + b"\0\0"), 0xA430: (2, UTF8 + b"\0")})
    with Image.open(io.BytesIO(original)) as image:
        assert image.n_frames == 2
        image.seek(1)
        assert 0x9C9D in image.tag_v2
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned, result.cleaning
    _assert_no_name(result.data)
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.n_frames == 2
