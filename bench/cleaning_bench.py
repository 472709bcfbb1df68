"""Benchmark of file cleaning in a bounded child process against cleaning in the server's own.

    python bench/cleaning_bench.py [--repeat 5]

Ordinary files (a 12-megapixel photo with EXIF, a PDF with an embedded photo, a .docx with
pictures): the time of ``cleaning_process.clean`` (a child per file) against
``cleaning.clean_here`` (the same work in this process), as a ratio: the price of isolation.

Bombs (a 9,400 x 9,400 progressive JPEG, nested PDF filters decoding to 1 GiB): how much the
resident memory of a fresh process grows (VmHWM over VmRSS after imports) when it cleans one
in a child, against one that decodes it as cleaning used to (the JPEG decoded by Pillow at
1/8 scale, the PDF rewritten by qpdf with its streams decoded), and the wall time of each;
the child's own peak is shown too (it is capped at ``ChildLimits.memory_bytes``).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from tests.helpers import bombs  # noqa: E402

MIB = 1024 * 1024


def _photo() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((4000, 3000), 40).convert("RGB").save(
        out, "JPEG", quality=85, exif=bombs.marked_exif()
    )
    return out.getvalue()


def _pdf(photo: bytes) -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.attachments["现场照片.jpg"] = pikepdf.AttachedFileSpec(pdf, photo)
    pdf.docinfo["/Author"] = "张三"
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _docx(photo: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>正文</w:document>")
        archive.writestr("word/media/image1.jpeg", photo)
        archive.writestr("docProps/thumbnail.jpeg", bombs.marked_jpeg())
    return out.getvalue()


def _best(func, data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_STATUS = """
def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
"""
_OLD_WAY = (
    _STATUS
    + """
import io, sys, time
from PIL import Image
import pikepdf
data = sys.stdin.buffer.read()
before = kib("VmRSS:")
started = time.perf_counter()
if sys.argv[1] == "jpeg":
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        image.draft(image.mode, (1, 1))
        try:
            image.load()
        except OSError:
            pass
else:
    import pikepdf
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(io.BytesIO())
print(kib("VmHWM:") - before, time.perf_counter() - started)
"""
)
_NEW_WAY = (
    _STATUS
    + """
import sys, resource, time
from app.services.reports.cleaning_process import clean
from tests.helpers.bombs import marked_jpeg
data = sys.stdin.buffer.read()
clean(marked_jpeg())
before = kib("VmRSS:")
started = time.perf_counter()
clean(data)
elapsed = time.perf_counter() - started
print(kib("VmHWM:") - before, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
)


def _measure(code: str, data: bytes, *args: str) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=data,
        capture_output=True,
        cwd=REPO,
        check=True,
    )
    return [float(n) for n in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from app.services.reports.cleaning import clean_here
    from app.services.reports.cleaning_process import clean

    photo = _photo()
    print("ordinary files: median seconds, in a child vs in this process")
    for name, data in (("photo", photo), ("pdf", _pdf(photo)), ("docx", _docx(photo))):
        here = _best(clean_here, data, args.repeat)
        child = _best(clean, data, args.repeat)
        print(
            f"  {name:6} {len(data) / MIB:5.1f} MiB  child {child:.3f} s  here {here:.3f} s"
            f"  ratio {child / here:.2f}"
        )
    print("bombs: RSS growth of the server's process, cleaning in a child vs the old way")
    for name, kind, data in (
        ("progressive 9400x9400 jpeg", "jpeg", bombs.progressive_jpeg_claiming(9400)),
        ("pdf nested flate 1 GiB", "pdf", bombs.pdf_nested_flate(1024 * MIB)),
    ):
        old, old_s = _measure(_OLD_WAY, data, kind)
        new, new_s, child = _measure(_NEW_WAY, data)
        print(
            f"  {name:28} {len(data) / 1024:5.1f} KiB  old +{old / 1024:4.0f} MiB {old_s:5.2f} s"
            f"  new +{new / 1024:4.0f} MiB (child peak {child / 1024:.0f} MiB) {new_s:5.2f} s"
            f"  growth ratio new/old {new / max(old, 1):.3f}, time ratio {new_s / old_s:.2f}"
        )


if __name__ == "__main__":
    main()
