"""Benchmark of cleaning a JPEG whose scan is megabytes of stuffed bytes (FF 00).

    python bench/jpeg_scan_bench.py [--mib 30]

Inside a PDF, 62 kB of Flate decoded to such a JPEG of 30 MiB; walked byte by byte in Python
it took six CPU seconds to clean. Prints the time of ``cleaning_images.clean_jpeg`` against
copying the same bytes once (``bytes(bytearray(data))``) in the same run, as a ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.services.reports import cleaning_images  # noqa: E402
from tests.helpers import bombs  # noqa: E402


def _best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = bombs.stuffed_jpeg(args.mib * bombs.MIB)
    copy = _best(lambda: bytes(bytearray(data)), args.repeat)
    cleaning = _best(lambda: cleaning_images.clean_jpeg(data), args.repeat)
    print(f"stuffed JPEG of {len(data) / bombs.MIB:.1f} MiB")
    print(f"copy once: {copy * 1000:.1f} ms CPU; clean: {cleaning * 1000:.1f} ms CPU")
    print(f"ratio clean / copy: {cleaning / max(copy, 1e-9):.1f}")


if __name__ == "__main__":
    main()
