"""The bounds every cleaner keeps, whatever the file: what it may decode, and how deep.

The cleaning process has hard limits of its own (memory, CPU time, a deadline: see
``cleaning_process``); these are the finer ones the cleaners check themselves, so that a
decompression bomb is recognised as one (the reporter is told the file was too large to
clean) instead of running into the process's limits.
"""

from __future__ import annotations

import zlib

MAX_DECODED = 64 * 1024 * 1024  # bytes one embedded file or image may take once decoded
MAX_DEPTH = 3  # files within files within files: deeper ones are not cleaned


class TooLargeToClean(ValueError):
    """Cleaning the file would take more than its bounds: it is stored as sent."""


def inflate(data: bytes, times: int = 1, limit: int = MAX_DECODED) -> bytes:
    """``data`` zlib-decoded ``times`` times over, never more than ``limit`` bytes at a step."""
    for _ in range(times):
        decoder = zlib.decompressobj()
        out = decoder.decompress(data, limit)
        if decoder.unconsumed_tail:
            raise TooLargeToClean("more than the decoding limit")
        out += decoder.flush()
        if len(out) > limit:
            raise TooLargeToClean("more than the decoding limit")
        data = out
    return data
