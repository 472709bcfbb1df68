"""Blob store: opaque bytes under random names, behind one small interface.

Callers never choose a name, so nothing a user uploads can steer where a file lands.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 64 * 1024
KEY_RE = re.compile(r"^[0-9a-f]{32}$")


class BlobError(Exception):
    """A blob could not be stored or found."""


class BlobTooLarge(BlobError):
    """The stream is longer than the limit; nothing was kept."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str
    head: bytes  # the first bytes, for checking the type by content


class BlobStore(Protocol):
    def put(self, stream: BinaryIO, max_bytes: int) -> StoredBlob: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...


class FilesystemBlobStore:
    """Blobs as files under ``root``, in two levels of folders named by the key."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise BlobError("not a blob key")
        return self.root / key[:2] / key

    def put(self, stream: BinaryIO, max_bytes: int) -> StoredBlob:
        """Copy ``stream`` in chunks (constant memory), hashing and counting on the way."""
        key = secrets.token_hex(16)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLarge(f"larger than {max_bytes} bytes")
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StoredBlob(key, size, digest.hexdigest(), head)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobError("no such blob") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
