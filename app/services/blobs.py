"""Blob store: opaque bytes under random names, behind one small interface.

Callers never choose a name, so nothing a user uploads can steer where a file lands.
A blob is durable once ``put`` or ``BlobWriter.commit`` returns: the file and its folder
are fsynced. Its times say the day only (see ``_day_only``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 64 * 1024
KEY_RE = re.compile(r"^[0-9a-f]{32}$")
_FOLDER_RE = re.compile(r"^[0-9a-f]{2}$")
_HEAD = 4096


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


class BlobWriter(Protocol):
    key: str
    size: int

    def write(self, data: bytes | bytearray | memoryview) -> int: ...
    def commit(self) -> StoredBlob: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    def put(self, stream: BinaryIO, max_bytes: int) -> StoredBlob: ...
    def create(self, max_bytes: int) -> BlobWriter: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def keys(self, min_age: float = 0.0) -> Iterator[str]: ...


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _day_only(path: Path) -> None:
    # A file's times would tell when a reporter sent it, to the second: keep the day only.
    # (The change time, ctime, cannot be set from user space.)
    day = int(time.time()) // 86400 * 86400
    os.utime(path, (day, day))


class FileBlobWriter:
    """A new blob file being written; ``commit`` makes it durable, ``abort`` removes it."""

    def __init__(self, path: Path, max_bytes: int, changed_folders: list[Path]) -> None:
        self.key = path.name
        self.size = 0
        self._path = path
        self._max = max_bytes
        self._folders = changed_folders
        self._digest = hashlib.sha256()
        self._head = b""
        self._done = False
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; past ``max_bytes`` the blob is removed and BlobTooLarge raised."""
        if self._done:
            raise BlobError("the blob is finished")
        view = memoryview(data).cast("B")
        if self.size + view.nbytes > self._max:
            self.abort()
            raise BlobTooLarge(f"larger than {self._max} bytes")
        self.size += view.nbytes
        if len(self._head) < _HEAD:
            self._head += bytes(view[: _HEAD - len(self._head)])
        self._digest.update(view)
        self._file.write(view)
        return view.nbytes

    def commit(self) -> StoredBlob:
        """Finish the blob: on disk, with its folder entry, when this returns."""
        if self._done:
            raise BlobError("the blob is finished")
        try:
            self._file.flush()
            _day_only(self._path)
            os.fsync(self._file.fileno())
            self._file.close()
            for folder in self._folders:  # its folder, and any folder made for it
                _day_only(folder)
                _fsync_folder(folder)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StoredBlob(self.key, self.size, self._digest.hexdigest(), self._head)

    def abort(self) -> None:
        """Drop the blob (nothing happens once it is committed)."""
        if self._done:
            return
        self._done = True
        self._file.close()
        self._path.unlink(missing_ok=True)
        for folder in self._folders:
            if folder.exists():
                _day_only(folder)


class FilesystemBlobStore:
    """Blobs as files under ``root``, in two levels of folders named by the key."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise BlobError("not a blob key")
        return self.root / key[:2] / key

    def create(self, max_bytes: int) -> FileBlobWriter:
        """A new blob under a random key, to be written to and then committed or aborted."""
        path = self._path(secrets.token_hex(16))
        folder = path.parent
        # The folder gets a new entry; so does the parent of every folder made here.
        changed = [folder]
        missing = folder
        while not missing.exists():
            changed.append(missing.parent)
            missing = missing.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return FileBlobWriter(path, max_bytes, changed)

    def put(self, stream: BinaryIO, max_bytes: int) -> StoredBlob:
        """Copy ``stream`` in chunks (constant memory), hashing and counting on the way."""
        writer = self.create(max_bytes)
        try:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobError("no such blob") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        if path.parent.exists():
            _day_only(path.parent)  # a removal would date its folder to the second

    def keys(self, min_age: float = 0.0) -> Iterator[str]:
        """Every key on disk (unfinished writes too) written ``min_age`` seconds ago or more."""
        if not self.root.is_dir():
            return
        oldest = time.time() - min_age
        for folder in sorted(self.root.iterdir()):
            if not (_FOLDER_RE.match(folder.name) and folder.is_dir()):
                continue
            for entry in sorted(folder.iterdir()):
                if not (KEY_RE.match(entry.name) and entry.name[:2] == folder.name):
                    continue
                try:
                    modified = entry.stat().st_mtime
                except FileNotFoundError:  # deleted meanwhile
                    continue
                if min_age <= 0 or modified <= oldest:
                    yield entry.name
