"""The age v1 header: stanzas, strict base64, parsing and serialising.

Parsing is strict on purpose: every header has exactly one byte encoding, so the MAC
covers the bytes as read and no two different-looking files carry the same header.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from crypto.errors import HeaderError

INTRO = b"age-encryption.org/v1\n"
STANZA_PREFIX = b"-> "
FOOTER_PREFIX = b"---"
COLUMNS_PER_LINE = 64
BYTES_PER_LINE = COLUMNS_PER_LINE // 4 * 3

# Long enough for post-quantum stanzas (about 1.5 kB per argument); short enough that a
# hostile header cannot make us buffer much.
MAX_LINE = 16 * 1024
MAX_HEADER = 1024 * 1024
# Far more recipients than an office has, few enough that trying every identity on every
# stanza stays quick (a 1 MiB header could otherwise hold about 175,000 stanzas).
MAX_STANZAS = 256

_B64_RAW = re.compile(rb"[A-Za-z0-9+/]*")
_ARG = re.compile(rb"[\x21-\x7e]+")


def is_argument(text: str) -> bool:
    """Whether ``text`` may be a stanza's type or argument: printable ASCII, no spaces."""
    return text.isascii() and _ARG.fullmatch(text.encode("ascii")) is not None


def b64encode(data: bytes) -> str:
    """Standard base64 without padding, as used throughout the age header."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str | bytes) -> bytes:
    """Decode canonical unpadded base64, refusing padding, newlines and spare bits."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if not _B64_RAW.fullmatch(raw) or len(raw) % 4 == 1:
        raise HeaderError("invalid base64")
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error:
        raise HeaderError("invalid base64") from None
    if base64.b64encode(data).rstrip(b"=") != raw:
        raise HeaderError("non-canonical base64")
    return data


@dataclass
class Stanza:
    """One recipient stanza: a type, string arguments and a binary body."""

    type: str
    args: list[str] = field(default_factory=list)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        """Serialise the stanza with its body wrapped at 64 columns."""
        line = " ".join([self.type, *self.args]).encode("ascii")
        out = [STANZA_PREFIX + line + b"\n"]
        encoded = b64encode(self.body).encode("ascii")
        for i in range(0, len(encoded), COLUMNS_PER_LINE):
            out.append(encoded[i : i + COLUMNS_PER_LINE] + b"\n")
        if len(encoded) % COLUMNS_PER_LINE == 0:
            # A body always ends with a short line, even an empty one.
            out.append(b"\n")
        return b"".join(out)


@dataclass
class Header:
    """A parsed header: stanzas, the MAC, and the exact bytes the MAC covers."""

    stanzas: list[Stanza]
    mac: bytes
    mac_input: bytes


def serialize_header_without_mac(stanzas: list[Stanza]) -> bytes:
    """The header bytes up to and including ``---``: the input of the header MAC."""
    return INTRO + b"".join(s.to_bytes() for s in stanzas) + FOOTER_PREFIX


def _read_line(src: BinaryIO, total: list[int]) -> bytes:
    line = src.readline(MAX_LINE)
    total[0] += len(line)
    if not line.endswith(b"\n"):
        raise HeaderError("truncated header or line too long")
    if total[0] > MAX_HEADER:
        raise HeaderError("header too large")
    return line


def parse_header(src: BinaryIO) -> Header:
    """Read and parse a header from ``src``, leaving it positioned at the payload nonce."""
    total = [0]
    first = src.readline(len(INTRO))
    if first != INTRO:
        if first.startswith(b"age-encryption.org/"):
            raise HeaderError("unsupported version")
        raise HeaderError("not an age file (bad introduction line)")
    consumed = [INTRO]
    stanzas: list[Stanza] = []
    while True:
        line = _read_line(src, total)
        if line.startswith(FOOTER_PREFIX):
            parts = line[:-1].split(b" ")
            if parts[0] != FOOTER_PREFIX or len(parts) != 2:
                raise HeaderError("malformed MAC line")
            mac = b64decode(parts[1])
            if len(mac) != 32:
                raise HeaderError("malformed MAC line")
            consumed.append(FOOTER_PREFIX)
            return Header(stanzas, mac, b"".join(consumed))
        if not line.startswith(STANZA_PREFIX):
            raise HeaderError("unexpected line in header")
        if len(stanzas) == MAX_STANZAS:
            raise HeaderError(f"header has more than {MAX_STANZAS} stanzas")
        consumed.append(line)
        args = line[len(STANZA_PREFIX) : -1].split(b" ")
        if not all(_ARG.fullmatch(a) for a in args):
            raise HeaderError("malformed stanza line")
        body = bytearray()
        while True:
            body_line = _read_line(src, total)
            consumed.append(body_line)
            chunk = b64decode(body_line[:-1])
            if len(chunk) > BYTES_PER_LINE:
                raise HeaderError("stanza body line longer than 64 columns")
            body += chunk
            if len(chunk) < BYTES_PER_LINE:
                break
        decoded = [a.decode("ascii") for a in args]
        stanzas.append(Stanza(decoded[0], decoded[1:], bytes(body)))
