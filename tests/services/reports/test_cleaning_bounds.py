"""Cleaning bounded whatever the file: decompression bombs of each kind are stored as sent (too
large to clean) or cleaned without being decoded; the cleaning process is capped and dies
with the server that started it."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pikepdf
import pytest
from PIL import Image

from app.services.reports import cleaning_process
from app.services.reports.cleaning import CleanState
from app.services.reports.cleaning_process import ChildLimits, clean
from tests.helpers.processes import kill_hard, start_script, survivors
from tests.services.reports.test_cleaning_embedded import marked_jpeg

MIB = 1024 * 1024


def _deflate_zeros(size: int) -> bytes:
    """``size`` zero bytes, deflated, made without holding them in memory."""
    encoder = zlib.compressobj(9)
    block = bytes(MIB)
    out = [encoder.compress(block) for _ in range(size // MIB)]
    return b"".join(out) + encoder.flush()


def _pdf_with_stream(raw: bytes, filters: list[str], **extra) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, b"")
    stream.write(raw, filter=[pikepdf.Name(f) for f in filters])
    for key, value in extra.items():
        stream[f"/{key}"] = value
    pdf.pages[0].Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(X=stream))
    pdf.docinfo["/Author"] = "张三"
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def _stream_raw(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return pdf.pages[0].Resources.XObject.X.read_raw_bytes()


def test_a_pdf_with_nested_flate_filters_is_cleaned_without_decoding_them():
    """The 7 KB PDF that decoded to 4 GiB: its streams are copied, never decoded."""
    bomb = zlib.compress(_deflate_zeros(256 * MIB), 9)
    data = _pdf_with_stream(bomb, ["/FlateDecode", "/FlateDecode"])
    assert len(data) < 8 * 1024
    result = clean(data, ChildLimits(memory_bytes=256 * MIB, cpu_seconds=5))
    assert result.cleaning.state == CleanState.cleaned
    assert "pdf_info" in result.cleaning.removed
    assert _stream_raw(result.data) == bomb  # as sent, not decoded and encoded again


def test_a_pdf_jpeg_behind_a_flate_bomb_is_too_large_to_clean():
    """Decoded to reach its EXIF, a JPEG stream may not pass the decoding limit."""
    bomb = zlib.compress(_deflate_zeros(128 * MIB), 9)
    data = _pdf_with_stream(bomb, ["/FlateDecode", "/FlateDecode", "/DCTDecode"])
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_a_pdf_attachment_that_is_a_bomb_is_removed_and_said_so():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    bomb = zlib.compress(_deflate_zeros(128 * MIB), 9)
    stream = pikepdf.Stream(pdf, b"")
    stream.write(bomb, filter=[pikepdf.Name.FlateDecode, pikepdf.Name.FlateDecode])
    spec = pikepdf.Dictionary(
        Type=pikepdf.Name.Filespec, UF=pikepdf.String("账目.xlsx"), EF={"/F": stream}
    )
    pdf.Root.Names = pikepdf.Dictionary(
        EmbeddedFiles=pikepdf.Dictionary(Names=[pikepdf.String("账目.xlsx"), spec])
    )
    out = io.BytesIO()
    pdf.save(out)
    result = clean(out.getvalue())
    assert result.cleaning.state == CleanState.nothing_found
    assert result.cleaning.notes == (("embedded_removed", "账目.xlsx"),)
    assert bomb not in result.data


def test_a_huge_progressive_jpeg_is_cleaned_without_decoding_a_pixel():
    """9,400 x 9,400 progressive: decoding it took 594 MB. Cleaned in a process capped far
    below that, its metadata goes all the same (nothing is decoded)."""
    exif = Image.open(io.BytesIO(marked_jpeg())).getexif()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "JPEG", progressive=True, exif=exif)
    data = bytearray(out.getvalue())
    at = data.index(b"\xff\xc2")
    struct.pack_into(">HH", data, at + 5, 9400, 9400)
    result = clean(bytes(data), ChildLimits(memory_bytes=256 * MIB))
    assert result.cleaning.state == CleanState.cleaned
    assert b"MarkMake" not in result.data and b"MarkGPSDatum" not in result.data


def test_a_jpeg_claiming_billions_of_pixels_is_too_large():
    data = bytearray(marked_jpeg())
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, 65000, 65000)
    result = clean(bytes(data))
    assert result.cleaning.state == CleanState.too_large
    assert result.data == bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_png_bomb_is_too_large_and_a_ztxt_bomb_is_dropped_undecoded():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(64 * 1024))
    huge = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    assert clean(huge).cleaning.state == CleanState.too_large
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "PNG")
    small = out.getvalue()
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + _deflate_zeros(512 * MIB))
    data = small[:33] + ztxt + small[33:]
    result = clean(data, ChildLimits(memory_bytes=256 * MIB))
    assert result.cleaning.state == CleanState.cleaned
    assert result.cleaning.removed == ("text",)
    assert result.data == small


def test_a_tiff_past_the_pixels_decoded_in_memory_is_too_large():
    out = io.BytesIO()
    Image.new("1", (6000, 5000)).save(
        out, "TIFF", compression="tiff_adobe_deflate", tiffinfo={315: "张三"}
    )
    data = out.getvalue()
    assert len(data) < 64 * 1024
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_a_webp_claiming_a_huge_canvas_is_too_large():
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(
        out, "WEBP", exif=Image.open(io.BytesIO(marked_jpeg())).getexif()
    )
    data = bytearray(out.getvalue())
    at = data.index(b"VP8X")
    data[at + 12 : at + 18] = (16383).to_bytes(3, "little") * 2
    result = clean(bytes(data))
    assert result.cleaning.state in (CleanState.too_large, CleanState.unreadable)
    assert result.data == bytes(data)


def test_an_office_zip_bomb_is_too_large():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>正文</w:document>")
        archive.writestr("word/media/image1.png", bytes(32 * MIB))
        archive.writestr("docProps/core.xml", "<cp:coreProperties>张三</cp:coreProperties>")
    data = out.getvalue()
    assert len(data) < 256 * 1024
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_past_its_memory_or_deadline_the_child_is_killed_and_the_file_kept_as_sent():
    data = marked_jpeg()
    for limits in (ChildLimits(memory_bytes=16 * MIB), ChildLimits(wall_seconds=0.01)):
        result = clean(data, limits)
        assert result.cleaning.state == CleanState.too_large
        assert result.cleaning.kind == "jpeg"
        assert result.data == data


_CLEANING_PARENT = """
import time
from app.services.reports import cleaning_process

def exchange(process, payload, cap, deadline):
    print(process.pid, flush=True)  # the child waits for its file; the server is killed
    time.sleep(120)

cleaning_process._exchange = exchange
cleaning_process.clean(b"\\xff\\xd8\\xff\\xe0" + bytes(100))
"""


def test_the_cleaning_process_ends_with_the_server_killed(tmp_path):
    process, pids = start_script(_CLEANING_PARENT, tmp_path)
    try:
        assert survivors(pids, timeout=0) == pids
    finally:
        kill_hard(process)
    assert survivors(pids) == []


@pytest.fixture(autouse=True)
def _one_slot_left():
    """Tests here run side by side with others: the slots must all come back."""
    yield
    assert cleaning_process._slots._value == cleaning_process.SLOTS
