"""The age STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks.

Each chunk nonce is an 11-byte big-endian counter and a final byte that is 1 only for
the last chunk, so truncation and reordering are detected. Only the whole-empty
plaintext has an empty (tag-only) chunk.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto.errors import PayloadError
from crypto.keys import hkdf_sha256

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_MAX_COUNTER = 1 << 88
# Encrypted chunks are gathered and written 16 at a time: fewer system calls.
_BATCH = 16


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """The payload key: HKDF-SHA256(file key, salt = payload nonce, "payload")."""
    return hkdf_sha256(file_key, nonce, b"payload")


def _chunk_nonce(counter: int, last: bool) -> bytes:
    if counter >= _MAX_COUNTER:
        raise PayloadError("too many chunks")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class StreamWriter(io.RawIOBase):
    """Encrypts what is written to it into ``dst``; ``close()`` writes the last chunk.

    Closing does not close ``dst``. Memory use is one chunk whatever the input size.
    """

    def __init__(self, dst: BinaryIO, key: bytes) -> None:
        super().__init__()
        self._dst = dst
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._buf = bytearray()
        self._out = memoryview(bytearray(_BATCH * ENCRYPTED_CHUNK_SIZE))
        self._used = 0

    def writable(self) -> bool:
        return True

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> None:
        end = self._used + len(chunk) + TAG_SIZE
        self._aead.encrypt_into(
            _chunk_nonce(self._counter, last), chunk, None, self._out[self._used : end]
        )
        self._counter += 1
        self._used = end
        if last or end + ENCRYPTED_CHUNK_SIZE > len(self._out):
            self._flush()

    def _flush(self) -> None:
        if self._used:
            self._dst.write(self._out[: self._used])
            self._used = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Encrypt every full chunk that is known not to be the last one."""
        if self.closed:
            raise ValueError("write to closed stream")
        view = memoryview(data).cast("B")
        size = len(view)
        if self._buf:
            take = min(CHUNK_SIZE - len(self._buf), size)
            self._buf += view[:take]
            view = view[take:]
            # A full buffer can only be sealed once more data proves it is not the last.
            if not view:
                return size
            self._seal(self._buf, last=False)
            self._buf.clear()
        # Keep at least one byte back: the final chunk must be sealed as last by close().
        while len(view) > CHUNK_SIZE:
            self._seal(view[:CHUNK_SIZE], last=False)
            view = view[CHUNK_SIZE:]
        self._buf += view
        # Nothing sealed stays behind a write call: the caller may rely on dst.
        self._flush()
        return size

    def close(self) -> None:
        """Seal the last chunk (empty only if nothing at all was written)."""
        if self.closed:
            return
        self._seal(self._buf, last=True)
        self._buf.clear()
        super().close()


class StreamReader:
    """Decrypts a STREAM payload chunk by chunk, releasing each chunk once authenticated."""

    def __init__(self, src: BinaryIO, key: bytes) -> None:
        self._src = src
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._in = bytearray(ENCRYPTED_CHUNK_SIZE)
        self._out = bytearray(CHUNK_SIZE)
        self._done = False

    def _fill(self) -> int:
        view = memoryview(self._in)
        got = 0
        while got < ENCRYPTED_CHUNK_SIZE:
            n = self._src.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def _open(self, data: memoryview, last: bool) -> memoryview | None:
        out = memoryview(self._out)[: len(data) - TAG_SIZE]
        try:
            self._aead.decrypt_into(_chunk_nonce(self._counter, last), data, None, out)
        except InvalidTag:
            return None
        return out

    def chunks(self) -> Iterator[memoryview]:
        """Yield plaintext chunks as views into an internal buffer reused per chunk.

        Raises PayloadError at the first damaged, missing or extra chunk; the chunks
        yielded before it were authenticated.
        """
        while not self._done:
            n = self._fill()
            if n == 0:
                raise PayloadError("truncated payload: final chunk missing")
            last = n < ENCRYPTED_CHUNK_SIZE
            if last and n < TAG_SIZE:
                raise PayloadError("truncated payload: chunk shorter than its tag")
            if last and n == TAG_SIZE and self._counter != 0:
                raise PayloadError("final chunk is empty")
            data = memoryview(self._in)[:n]
            plain = self._open(data, last)
            if plain is None and not last:
                # A full-size chunk may be the final one.
                last = True
                plain = self._open(data, last)
            if plain is None:
                raise PayloadError(f"chunk {self._counter} failed authentication")
            self._counter += 1
            self._done = last
            yield plain
        if self._src.read(1):
            raise PayloadError("trailing data after the final chunk")
