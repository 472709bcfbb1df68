"""Strict PEM-style ASCII armor for age files.

Rules: optional whitespace before the BEGIN line and after the END line (at most
1 KiB each); LF or CRLF line endings; standard padded base64 in lines of exactly 64
columns except the last, which is shorter (or full) and is followed by the END line;
no empty lines, no spaces, no headers, canonical encoding only.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import BinaryIO

from crypto.errors import ArmorError

BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
END = b"-----END AGE ENCRYPTED FILE-----"
COLUMNS = 64
_MAX_WHITESPACE = 1024
_WHITESPACE = b" \t\r\n"
_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


class ArmorReader(io.RawIOBase):
    """A readable stream of the bytes inside an armored age file, decoded line by line."""

    def __init__(self, src: BinaryIO) -> None:
        super().__init__()
        self._src = src
        self._pending = b""
        self._started = False
        self._finished = False

    def readable(self) -> bool:
        return True

    def _line(self) -> bytes:
        line = self._src.readline(COLUMNS + 3)
        if not line:
            raise ArmorError("unexpected end of armored data")
        if line.endswith(b"\r\n"):
            return line[:-2]
        if line.endswith(b"\n"):
            return line[:-1]
        if len(line) > COLUMNS + 1:
            raise ArmorError("armored line longer than 64 columns")
        # Only the END line may lack a line ending (end of file).
        if line != END:
            raise ArmorError("unexpected end of armored data")
        return line

    def _start(self) -> None:
        skipped = 0
        while True:
            byte = self._src.read(1)
            if not byte:
                raise ArmorError("no armor BEGIN line")
            if byte not in _WHITESPACE:
                break
            skipped += 1
            if skipped > _MAX_WHITESPACE:
                raise ArmorError("too much whitespace before armor")
        rest = self._src.readline(len(BEGIN) + 2)
        line = byte + rest
        if line not in (BEGIN + b"\n", BEGIN + b"\r\n"):
            raise ArmorError("invalid armor BEGIN line")
        self._started = True

    def _finish(self) -> None:
        trailing = self._src.read(_MAX_WHITESPACE + 1)
        if trailing.strip(_WHITESPACE):
            raise ArmorError("data after armor END line")
        if len(trailing) > _MAX_WHITESPACE:
            raise ArmorError("too much whitespace after armor")
        self._finished = True

    def _next_block(self) -> bytes:
        if not self._started:
            self._start()
        line = self._line()
        if line == END:
            self._finish()
            return b""
        if len(line) > COLUMNS:
            raise ArmorError("armored line longer than 64 columns")
        if not _LINE.fullmatch(line) or len(line) % 4:
            raise ArmorError("invalid base64 line in armor")
        try:
            data = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise ArmorError("invalid base64 in armor") from None
        if base64.b64encode(data) != line:
            raise ArmorError("non-canonical base64 in armor")
        if len(line) < COLUMNS or line.endswith(b"="):
            if self._line() != END:
                raise ArmorError("short armored line not followed by END line")
            self._finish()
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` with decoded bytes; 0 means the armor ended cleanly."""
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._finished:
            self._pending = self._next_block()
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class ArmorWriter(io.RawIOBase):
    """A writable stream that armors what is written to it into ``dst``.

    ``close()`` writes the END line but does not close ``dst``.
    """

    def __init__(self, dst: BinaryIO) -> None:
        super().__init__()
        self._dst = dst
        self._buf = bytearray()
        dst.write(BEGIN + b"\n")

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Buffer ``data`` and write out every complete 64-column line."""
        self._buf += data
        whole = len(self._buf) - len(self._buf) % (COLUMNS // 4 * 3 * 64)
        if whole:
            encoded = base64.b64encode(bytes(self._buf[:whole]))
            self._dst.write(
                b"".join(encoded[i : i + COLUMNS] + b"\n" for i in range(0, len(encoded), COLUMNS))
            )
            del self._buf[:whole]
        return len(data)

    def close(self) -> None:
        """Write the final line and the END line."""
        if self.closed:
            return
        encoded = base64.b64encode(bytes(self._buf))
        self._dst.write(
            b"".join(encoded[i : i + COLUMNS] + b"\n" for i in range(0, len(encoded), COLUMNS))
        )
        self._dst.write(END + b"\n")
        super().close()


def is_armored(head: bytes) -> bool:
    """Whether the first bytes of a file look like armor (after optional whitespace)."""
    return head.lstrip(_WHITESPACE).startswith(BEGIN[:16])
