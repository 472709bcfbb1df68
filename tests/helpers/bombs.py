"""Files that cost a parser far more than their size, and files carrying every metadata
marker: made here, small, for the cleaning tests and the served-app test."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pikepdf
from PIL import ExifTags, Image

MIB = 1024 * 1024
MARKERS = {
    "make": b"MarkMake",
    "model": b"MarkModel",
    "artist": b"MarkArtist",
    "gps": b"MarkGPSDatum",
    "comment": "MarkComment 张三的评论".encode(),
    "author": "MarkAuthor 李四".encode(),
}


def marked_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "MarkMake"
    exif[0x0110] = "MarkModel"
    exif[0x013B] = "MarkArtist"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (39.0, 54.0, 27.5)
    gps[ExifTags.GPS.GPSMapDatum] = "MarkGPSDatum"
    return exif


def marked_jpeg(size: tuple[int, int] = (64, 48), **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(
        out, "JPEG", exif=marked_exif(), comment=MARKERS["comment"], quality=90, **options
    )
    return out.getvalue()


def deflated_zeros(size: int) -> bytes:
    """``size`` zero bytes, deflated, made without holding them in memory."""
    encoder = zlib.compressobj(9)
    block = bytes(MIB)
    out = [encoder.compress(block) for _ in range(size // MIB)]
    return b"".join(out) + encoder.flush()


def pdf_with_stream(raw: bytes, filters: list[str]) -> bytes:
    """A one-page PDF (author 张三) with ``raw`` as an XObject's data under ``filters``."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, b"")
    stream.write(raw, filter=[pikepdf.Name(f) for f in filters])
    pdf.pages[0].Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(X=stream))
    pdf.docinfo["/Author"] = "张三"
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def pdf_nested_flate(decoded: int = 256 * MIB) -> bytes:
    """Some kilobytes whose stream decodes to ``decoded`` bytes: [/FlateDecode /FlateDecode]."""
    return pdf_with_stream(zlib.compress(deflated_zeros(decoded), 9), ["/FlateDecode"] * 2)


def pdf_jpeg_behind_a_bomb(decoded: int = 128 * MIB) -> bytes:
    bomb = zlib.compress(deflated_zeros(decoded), 9)
    return pdf_with_stream(bomb, ["/FlateDecode", "/FlateDecode", "/DCTDecode"])


def progressive_jpeg_claiming(side: int = 9400) -> bytes:
    """A small progressive JPEG with EXIF whose frame claims ``side`` x ``side`` pixels: a
    decoder allocates for all of them (the 1 MB file that took 594 MB)."""
    data = bytearray(marked_jpeg(progressive=True))
    at = data.index(b"\xff\xc2")
    struct.pack_into(">HH", data, at + 5, side, side)
    return bytes(data)


def jpeg_claiming(side: int = 65000) -> bytes:
    data = bytearray(marked_jpeg())
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, side, side)
    return bytes(data)


def stuffed_jpeg(stuffed: int = 4 * MIB) -> bytes:
    """A marked JPEG whose scan holds ``stuffed`` bytes of FF 00 (stuffed zero bytes), a run
    of fill bytes before its end marker and a run of restart markers before its first
    segment: every byte a parser walks one at a time. Inside a PDF, 62 kB of Flate made 30
    MiB of it."""
    data = marked_jpeg()
    sos = data.index(b"\xff\xda")
    scan = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    restarts = b"\xff\xff\xd0\xff\xd1" * 1000
    return (
        data[:2]
        + restarts
        + data[2:scan]
        + b"\xff\x00" * (stuffed // 2)
        + data[scan:-2]
        + b"\xff" * 100_000
        + data[-2:]
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(side: int = 100_000) -> bytes:
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(64 * 1024)))
        + png_chunk(b"IEND", b"")
    )


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "PNG")
    return out.getvalue()


def png_with_ztxt_bomb(decoded: int = 512 * MIB) -> bytes:
    """A small PNG with a compressed text chunk that decodes to ``decoded`` bytes."""
    small = small_png()
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + deflated_zeros(decoded))
    return small[:33] + ztxt + small[33:]


def tiff_past_the_pixel_limit() -> bytes:
    out = io.BytesIO()
    Image.new("1", (6000, 5000)).save(
        out, "TIFF", compression="tiff_adobe_deflate", tiffinfo={315: "张三"}
    )
    return out.getvalue()


def webp_claiming_a_huge_canvas() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, "WEBP", exif=marked_exif())
    data = bytearray(out.getvalue())
    at = data.index(b"VP8X")
    data[at + 12 : at + 18] = (16383).to_bytes(3, "little") * 2
    return bytes(data)


def office_zip_bomb(decoded: int = 32 * MIB) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>正文</w:document>")
        archive.writestr("word/media/image1.png", bytes(decoded))
        archive.writestr("docProps/core.xml", "<cp:coreProperties>张三</cp:coreProperties>")
    return out.getvalue()


def every_bomb() -> dict[str, bytes]:
    """One of each kind, by a Chinese file name."""
    return {
        "嵌套压缩.pdf": pdf_nested_flate(1024 * MIB),
        "压缩图片.pdf": pdf_jpeg_behind_a_bomb(64 * MIB),
        "巨幅渐进.jpg": progressive_jpeg_claiming(),
        "巨幅照片.jpg": jpeg_claiming(),
        "巨幅图.png": png_claiming(),
        "文字炸弹.png": png_with_ztxt_bomb(128 * MIB),
        "扫描件.tif": tiff_past_the_pixel_limit(),
        "巨幅.webp": webp_claiming_a_huge_canvas(),
        "压缩包.docx": office_zip_bomb(),
    }
