"""Cleaning bounded whatever the file: decompression bombs of each kind are stored as sent (too
large to clean) or cleaned without being decoded; the cleaning process is capped and dies
with the server that started it."""

from __future__ import annotations

import io
import zlib

import pikepdf
import pytest

from app.services.reports import cleaning_process
from app.services.reports.cleaning import CleanState
from app.services.reports.cleaning_process import ChildLimits, clean
from tests.helpers import bombs
from tests.helpers.bombs import MIB, marked_jpeg
from tests.helpers.processes import kill_hard, start_script, survivors


def _stream_raw(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return pdf.pages[0].Resources.XObject.X.read_raw_bytes()


def test_a_pdf_with_nested_flate_filters_is_cleaned_without_decoding_them():
    """The 7 KB PDF that decoded to 4 GiB: its streams are copied, never decoded."""
    data = bombs.pdf_nested_flate(256 * MIB)
    assert len(data) < 8 * 1024
    bomb = _stream_raw(data)
    result = clean(data, ChildLimits(memory_bytes=256 * MIB, cpu_seconds=5))
    assert result.cleaning.state == CleanState.cleaned
    assert "pdf_info" in result.cleaning.removed
    assert _stream_raw(result.data) == bomb  # as sent, not decoded and encoded again


def test_a_pdf_jpeg_behind_a_flate_bomb_is_too_large_to_clean():
    """Decoded to reach its EXIF, a JPEG stream may not pass the decoding limit."""
    data = bombs.pdf_jpeg_behind_a_bomb()
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_a_pdf_attachment_that_is_a_bomb_is_removed_and_said_so():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    bomb = zlib.compress(bombs.deflated_zeros(128 * MIB), 9)
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
    data = bombs.progressive_jpeg_claiming(9400)
    result = clean(data, ChildLimits(memory_bytes=256 * MIB))
    assert result.cleaning.state == CleanState.cleaned
    assert b"MarkMake" not in result.data and b"MarkGPSDatum" not in result.data


def test_a_jpeg_claiming_billions_of_pixels_is_too_large():
    data = bombs.jpeg_claiming(65000)
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_a_png_bomb_is_too_large_and_a_ztxt_bomb_is_dropped_undecoded():
    assert clean(bombs.png_claiming()).cleaning.state == CleanState.too_large
    data = bombs.png_with_ztxt_bomb()
    result = clean(data, ChildLimits(memory_bytes=256 * MIB))
    assert result.cleaning.state == CleanState.cleaned
    assert result.cleaning.removed == ("text",)
    assert result.data == bombs.small_png()


def test_a_tiff_past_the_pixels_decoded_in_memory_is_too_large():
    data = bombs.tiff_past_the_pixel_limit()
    assert len(data) < 64 * 1024
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_a_webp_claiming_a_huge_canvas_is_too_large():
    data = bombs.webp_claiming_a_huge_canvas()
    result = clean(data)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == data


def test_an_office_zip_bomb_is_too_large():
    data = bombs.office_zip_bomb()
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


def test_with_no_process_to_be_had_the_file_is_kept_as_sent(monkeypatch):
    """The machine out of processes: the upload goes on, stored as sent and said so."""

    def refuse(*args, **kwargs):
        raise BlockingIOError("Resource temporarily unavailable")

    monkeypatch.setattr(cleaning_process.subprocess, "Popen", refuse)
    data = marked_jpeg()
    result = clean(data)
    assert result.cleaning.state == CleanState.unreadable and result.data == data


def test_the_cleaning_child_runs_at_a_lower_priority_than_the_server(monkeypatch):
    """A file that costs seconds of CPU to clean must not take them from page requests: the
    child that cleans it runs at a nice value of at least 10."""
    import os

    from tests.helpers.processes import nice_of

    seen = []
    exchange = cleaning_process._exchange

    def watched(process, *args):
        output = exchange(process, *args)
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped
        seen.append(nice_of(process.pid))
        return output

    monkeypatch.setattr(cleaning_process, "_exchange", watched)
    result = clean(marked_jpeg())
    assert result.cleaning.state == CleanState.cleaned
    assert seen and seen[0] >= 10 > nice_of(os.getpid())


def test_a_jpeg_of_stuffed_bytes_is_cleaned_with_its_scan_copied_as_it_is():
    """Megabytes of stuffed bytes, fill bytes and restart markers: the metadata goes, every
    byte of the picture stays (fill bytes between markers aside)."""
    original = bombs.stuffed_jpeg(4 * MIB)
    result = clean(original)
    assert result.cleaning.state == CleanState.cleaned
    assert {"exif", "gps", "comment"} <= set(result.cleaning.removed)
    for marker in (bombs.MARKERS["make"], bombs.MARKERS["gps"], bombs.MARKERS["comment"]):
        assert marker not in result.data
    assert result.data[2:4002] == b"\xff\xd0\xff\xd1" * 1000
    assert b"\xff\x00" * (2 * MIB) in result.data
    assert result.data.endswith(b"\xff" * 100_000 + b"\xff\xd9")


def test_cleaning_a_jpeg_takes_python_steps_by_segment_not_by_byte():
    """The scan is searched by the regular expression engine: the lines of Python run do not
    grow with the stuffed bytes (it took six CPU seconds for 30 MiB walked byte by byte)."""
    import sys

    from app.services.reports import cleaning_images

    def lines_run(data: bytes) -> int:
        count = 0

        def trace(frame, event, _arg):
            nonlocal count
            if frame.f_code.co_filename == cleaning_images.__file__:
                count += event == "line"
                return trace
            return None

        sys.settrace(trace)
        try:
            cleaning_images.clean_jpeg(data)
        finally:
            sys.settrace(None)
        return count

    small, large = lines_run(bombs.stuffed_jpeg(1024)), lines_run(bombs.stuffed_jpeg(MIB // 2))
    assert large == small < 1000


def test_a_jpeg_of_countless_empty_segments_is_too_large_to_clean():
    data = bombs.marked_jpeg()
    flood = data[:2] + b"\xff\xfe\x00\x02" * 200_000 + data[2:]
    result = clean(flood)
    assert result.cleaning.state == CleanState.too_large
    assert result.data == flood


def test_a_pdf_jpeg_behind_flate_is_cleaned_and_stays_as_small_as_it_came():
    """62 kB of PDF (a JPEG of stuffed bytes behind Flate) was once stored as 60 MB: past
    every byte budget of the report or the day's replies, which count what was sent."""
    sent = bombs.pdf_with_stream(
        zlib.compress(bombs.stuffed_jpeg(8 * MIB), 9), ["/FlateDecode", "/DCTDecode"]
    )
    result = clean(sent)
    assert result.cleaning.state is CleanState.cleaned and "exif" in result.cleaning.removed
    assert len(result.data) < 2 * len(sent)
    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        (image,) = [o for o in pdf.objects if isinstance(o, pikepdf.Stream) and "/Filter" in o]
        assert list(image.Filter) == ["/FlateDecode", "/DCTDecode"]
        jpeg = zlib.decompress(image.read_raw_bytes())
    assert b"\xff\x00" * 1000 in jpeg and b"MarkMake" not in jpeg


def test_a_file_that_would_grow_on_cleaning_is_stored_as_sent():
    """A JPEG-compressed TIFF of noise, deflated losslessly, weighs fourteen times more."""
    import random

    from PIL import Image

    noise = Image.frombytes("RGB", (1500, 1500), random.Random(7).randbytes(1500 * 1500 * 3))
    out = io.BytesIO()
    noise.save(out, "TIFF", compression="jpeg", quality=10, description="李四的扫描仪")
    sent = out.getvalue()
    result = clean(sent)
    assert result.cleaning.state is CleanState.too_large
    assert result.data == sent
