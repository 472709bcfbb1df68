"""age v1 file encryption: a small API in the spirit of the Go age package.

    with encrypt(dst, [recipient]) as w:      # header written now
        w.write(data)                         # payload sealed chunk by chunk
    reader = decrypt(src, [identity])         # header parsed and MAC verified here
    for chunk in reader: ...                  # plaintext released chunk by chunk

Every failure raises the error class of the stage that failed (errors.py).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import shutil
from collections.abc import Collection, Iterator, Sequence
from typing import BinaryIO

from crypto.armor import ArmorReader, ArmorWriter, is_armored
from crypto.errors import HeaderError, HmacError, NoIdentityMatch
from crypto.format import (
    INTRO,
    MAX_STANZAS,
    Header,
    Stanza,
    b64encode,
    is_argument,
    parse_header,
)
from crypto.format import serialize_header_without_mac as _mac_input
from crypto.keys import FILE_KEY_SIZE, Identity, Recipient, hkdf_sha256
from crypto.stream import NONCE_SIZE, StreamReader, StreamWriter, payload_key

_COPY_BUFFER = 64 * 1024
# Small, so chunk-sized reads go straight to the source and release stays prompt.
_SNIFF_BUFFER = 8 * 1024


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.new(hkdf_sha256(file_key, b"", b"header"), mac_input, hashlib.sha256).digest()


def _wrap_all(file_key: bytes, recipients: Sequence[Recipient]) -> list[Stanza]:
    if not recipients:
        raise ValueError("at least one recipient is required")
    stanzas = [s for r in recipients for s in r.wrap(file_key)]
    if len(stanzas) > MAX_STANZAS:
        # No reader of ours would open it.
        raise HeaderError(f"a header holds at most {MAX_STANZAS} stanzas (recipients)")
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise ValueError("a passphrase (scrypt) recipient must be the only recipient")
    return stanzas


def _header_bytes(file_key: bytes, stanzas: list[Stanza]) -> bytes:
    mac_input = _mac_input(stanzas)
    return mac_input + b" " + b64encode(_header_mac(file_key, mac_input)).encode() + b"\n"


class _Prefixed(io.RawIOBase):
    """``src`` with some already-read bytes put back in front (for format sniffing)."""

    def __init__(self, head: bytes, src: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._src.readinto(view) or 0


def _reader(src: BinaryIO, armored: bool | None) -> BinaryIO:
    if armored is None:
        peek = getattr(src, "peek", None)
        head = peek(len(INTRO))[: len(INTRO)] if peek else b""
        if len(head) < len(INTRO):
            head = src.read(len(INTRO))
            src = io.BufferedReader(_Prefixed(head, src), _SNIFF_BUFFER)
        armored = is_armored(head)
    if armored:
        return io.BufferedReader(ArmorReader(src), _COPY_BUFFER)
    if not hasattr(src, "readline") or not hasattr(src, "readinto"):
        raise TypeError("src must be a binary file object")
    return src


def _unwrap(header: Header, identities: Sequence[Identity]) -> bytes:
    if any(s.type == "scrypt" for s in header.stanzas) and len(header.stanzas) != 1:
        raise HeaderError("a scrypt stanza must be the only stanza")
    for identity in identities:
        for stanza in header.stanzas:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                return file_key
    raise NoIdentityMatch("no identity matched any recipient")


def _authenticate(header: Header, identities: Sequence[Identity]) -> bytes:
    """Unwrap the file key and check the header MAC with it; return the file key."""
    file_key = _unwrap(header, identities)
    if len(file_key) != FILE_KEY_SIZE or not hmac.compare_digest(
        _header_mac(file_key, header.mac_input), header.mac
    ):
        raise HmacError("header MAC does not verify")
    return file_key


def _open_header(
    src: BinaryIO, identities: Sequence[Identity], armored: bool | None
) -> tuple[BinaryIO, bytes, bytes]:
    """Parse, unwrap and authenticate the header; return (reader, file key, nonce)."""
    reader = _reader(src, armored)
    file_key = _authenticate(parse_header(reader), identities)
    nonce = reader.read(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise HeaderError("payload nonce missing or short")
    return reader, file_key, nonce


def new_file_key() -> bytes:
    """A fresh random file key (16 bytes from the OS CSPRNG)."""
    return os.urandom(FILE_KEY_SIZE)


def _labels(labels: Sequence[Stanza]) -> list[Stanza]:
    for label in labels:
        if label.type in ("X25519", "scrypt"):
            raise ValueError("a label must not have the type of a recipient stanza")
        if not all(map(is_argument, [label.type, *label.args])):
            raise ValueError("a label's type and arguments are printable ASCII without spaces")
    return list(labels)


def make_header(
    file_key: bytes, recipients: Sequence[Recipient], labels: Sequence[Stanza] = ()
) -> bytes:
    """The header of an age file with ``file_key``: recipient stanzas and MAC line.

    Joined with a payload written by :class:`PayloadWriter` for the same file key, it makes
    a standard age file. The payload depends only on the file key and its nonce, so a
    payload can be written before the recipients are known and its header made later.

    ``labels`` are stanzas of the caller's own type (a namespaced name, such as
    ``example.com/label``), put first: no identity unwraps them, so every age implementation
    skips them, but the header MAC covers them, so nobody without the file key can change
    them without the file failing to open.
    """
    if len(file_key) != FILE_KEY_SIZE:
        raise ValueError(f"a file key is {FILE_KEY_SIZE} bytes")
    stanzas = _labels(labels) + _wrap_all(file_key, recipients)
    if len(stanzas) > MAX_STANZAS:
        raise HeaderError(f"a header holds at most {MAX_STANZAS} stanzas (recipients)")
    if labels and any(s.type == "scrypt" for s in stanzas):
        raise ValueError("a passphrase (scrypt) recipient must be the only stanza")
    return _header_bytes(file_key, stanzas)


def rewrap_header(
    header: bytes,
    identities: Sequence[Identity],
    new_recipients: Sequence[Recipient],
    *,
    keep_labels: Collection[str] = (),
) -> bytes:
    """A new header for ``new_recipients`` with the same file key as ``header``.

    ``header`` must be exactly one header (up to and including its MAC line); it is
    authenticated with one of ``identities`` first. The payload that goes with it stays
    valid byte for byte. Its stanzas whose type is in ``keep_labels`` are carried into the
    new header, as labels (see :func:`make_header`); every other stanza is dropped.
    """
    src = io.BytesIO(header)
    parsed = parse_header(src)
    file_key = _authenticate(parsed, identities)
    if src.read(1):
        raise HeaderError("trailing data after the header")
    labels = [s for s in parsed.stanzas if s.type in keep_labels]
    return make_header(file_key, new_recipients, labels)


class PayloadWriter(io.RawIOBase):
    """Writes the payload of an age file (a random nonce, then STREAM chunks) to ``dst``.

    The file key is the caller's; :func:`make_header` makes a header for it. ``close()``
    seals the last chunk; it never closes ``dst``. Memory use is one chunk.
    """

    def __init__(self, dst: BinaryIO, file_key: bytes) -> None:
        super().__init__()
        if len(file_key) != FILE_KEY_SIZE:
            raise ValueError(f"a file key is {FILE_KEY_SIZE} bytes")
        nonce = os.urandom(NONCE_SIZE)
        dst.write(nonce)
        self._stream = StreamWriter(dst, payload_key(file_key, nonce))

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Encrypt ``data`` (buffered up to one chunk)."""
        return self._stream.write(data)

    def close(self) -> None:
        """Seal the last chunk."""
        if self.closed:
            return
        self._stream.close()
        super().close()


class EncryptWriter(io.RawIOBase):
    """Writable plaintext sink returned by :func:`encrypt`.

    ``close()`` seals the last chunk and finishes the armor; it never closes ``dst``.
    """

    def __init__(self, dst: BinaryIO, recipients: Sequence[Recipient], armor: bool) -> None:
        super().__init__()
        file_key = new_file_key()
        header = make_header(file_key, recipients)
        self._armor = ArmorWriter(dst) if armor else None
        sink: BinaryIO = self._armor if self._armor else dst  # type: ignore[assignment]
        sink.write(header)
        self._stream = PayloadWriter(sink, file_key)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Encrypt ``data`` (buffered up to one chunk)."""
        return self._stream.write(data)

    def close(self) -> None:
        """Finish the file."""
        if self.closed:
            return
        self._stream.close()
        if self._armor:
            self._armor.close()
        super().close()


class Decryptor(io.RawIOBase):
    """Readable plaintext returned by :func:`decrypt`; iterate it for chunks (bytes).

    Every byte it releases was authenticated; a damaged payload raises PayloadError
    at the damaged chunk.
    """

    def __init__(self, stream: StreamReader) -> None:
        super().__init__()
        self._chunks = stream.chunks()
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def views(self) -> Iterator[memoryview]:
        """Chunks as views into a reused buffer: fastest, valid until the next one."""
        if self._pending:
            pending, self._pending = self._pending, memoryview(b"")
            yield pending
        yield from self._chunks

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        return (bytes(view) for view in self.views())

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` with plaintext; 0 at the authenticated end of the file."""
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def encrypt(
    dst: BinaryIO, recipients: Sequence[Recipient], *, armor: bool = False
) -> EncryptWriter:
    """Start an age file in ``dst`` for ``recipients``; write plaintext to the result.

    Close the returned writer (or use it as a context manager) to finish the file.
    """
    return EncryptWriter(dst, recipients, armor)


def _fill(src: BinaryIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, recipients: Sequence[Recipient], *, armor: bool = False
) -> None:
    """Encrypt everything readable from ``src`` into ``dst`` in constant memory."""
    view = memoryview(bytearray(_COPY_BUFFER))
    with encrypt(dst, recipients, armor=armor) as writer:
        while n := _fill(src, view):
            writer.write(view[:n])


def encrypt_bytes(
    plaintext: bytes, recipients: Sequence[Recipient], *, armor: bool = False
) -> bytes:
    """Encrypt a small in-memory plaintext."""
    out = io.BytesIO()
    with encrypt(out, recipients, armor=armor) as writer:
        writer.write(plaintext)
    return out.getvalue()


def decrypt(
    src: BinaryIO, identities: Sequence[Identity], *, armored: bool | None = None
) -> Decryptor:
    """Open an age file: the header is parsed, unwrapped and authenticated before return.

    ``armored=None`` detects ASCII armor from the first bytes. Raises ArmorError,
    HeaderError, NoIdentityMatch or HmacError here; PayloadError later while reading.
    """
    reader, file_key, nonce = _open_header(src, identities, armored)
    return Decryptor(StreamReader(reader, payload_key(file_key, nonce)))


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, identities: Sequence[Identity], *, armored: bool | None = None
) -> None:
    """Decrypt ``src`` into ``dst`` chunk by chunk in constant memory."""
    for view in decrypt(src, identities, armored=armored).views():
        dst.write(view)


def decrypt_bytes(
    data: bytes, identities: Sequence[Identity], *, armored: bool | None = None
) -> bytes:
    """Decrypt a small in-memory age file."""
    return b"".join(decrypt(io.BytesIO(data), identities, armored=armored))


def rewrap(
    src: BinaryIO,
    dst: BinaryIO,
    identities: Sequence[Identity],
    new_recipients: Sequence[Recipient],
    *,
    armored: bool | None = None,
    armor: bool = False,
) -> None:
    """Write ``src`` to ``dst`` with a new header for ``new_recipients``.

    The file key and payload stay the same: the nonce and encrypted chunks are copied
    byte for byte, so no plaintext is ever produced. The payload is not authenticated
    here; a damaged payload stays damaged and fails when decrypted.
    """
    reader, file_key, nonce = _open_header(src, identities, armored)
    header = _header_bytes(file_key, _wrap_all(file_key, new_recipients))
    if armor:
        with ArmorWriter(dst) as armored_dst:
            armored_dst.write(header + nonce)
            shutil.copyfileobj(reader, armored_dst, _COPY_BUFFER)  # type: ignore[misc]
    else:
        dst.write(header + nonce)
        shutil.copyfileobj(reader, dst, _COPY_BUFFER)
