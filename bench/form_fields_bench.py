"""Benchmark of what the report form's parser holds of large fields before any check.

    python bench/form_fields_bench.py [--fields 200] [--size 498000]

A body of ``--fields`` fields of ``--size`` bytes each, no CSRF token (what an attacker sent):
the peak of Python allocations (tracemalloc) and the bytes read of the body while the report
endpoint's parser (``upload_request.GatedMultiPartParser``, with the report form's field
budget) parses it, against Werkzeug's own multipart parser on the same body (the reference,
what the parser held before the budget), as ratios.
"""

from __future__ import annotations

import argparse
import io
import sys
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from werkzeug.formparser import MultiPartParser  # noqa: E402

from app.public.reports.upload_request import (  # noqa: E402
    FIELD_BYTES,
    GatedMultiPartParser,
)

BOUNDARY = b"bench-boundary-5c1e"


class Counted(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def body(fields: int, size: int) -> bytes:
    value = ("王" * (size // 3)).encode()
    parts = b""
    for n in range(fields):
        parts += b"--" + BOUNDARY + b"\r\n"
        parts += f'Content-Disposition: form-data; name="field{n}"\r\n\r\n'.encode()
        parts += value + b"\r\n"
    return parts + b"--" + BOUNDARY + b"--\r\n"


def measure(parser, data: bytes) -> tuple[int, int]:
    stream = Counted(data)
    tracemalloc.start()
    tracemalloc.reset_peak()
    parser.parse(stream, BOUNDARY, len(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, stream.read_bytes


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--fields", type=int, default=200)
    options.add_argument("--size", type=int, default=498_000)
    args = options.parse_args()
    data = body(args.fields, args.size)
    limit = 500 * 1000  # Werkzeug's per-field limit (Flask's MAX_FORM_MEMORY_SIZE)
    reference = MultiPartParser(max_form_memory_size=limit, max_form_parts=1000)
    gated = GatedMultiPartParser(
        lambda fields: False,
        FIELD_BYTES["reports.send"],
        10,
        max_form_memory_size=limit,
        max_form_parts=1000,
    )
    ref_peak, ref_read = measure(reference, data)
    peak, read = measure(gated, data)
    print(f"body: {len(data) / 2**20:.1f} MiB in {args.fields} fields")
    print(f"werkzeug parser:  peak {ref_peak / 2**20:8.2f} MiB, read {ref_read / 2**20:8.2f} MiB")
    print(f"report parser:    peak {peak / 2**20:8.2f} MiB, read {read / 2**20:8.2f} MiB")
    print(f"ratio (report / werkzeug): memory {peak / ref_peak:.4f}, read {read / ref_read:.4f}")


if __name__ == "__main__":
    main()
