"""Blob store: opaque bytes under random names, behind one small interface.

Callers never choose a name, so nothing a user uploads can steer where a file lands.
A blob is durable once ``put`` or ``BlobWriter.commit`` returns: the file and its folder
are fsynced. Its times, and its folders', say the day only: the start of the day in the
enterprise's zone (``day_start``), the same day a report's ``received_on`` says. What the
kernel keeps besides (change times, inode numbers, the order of folder entries) is rewritten
by ``FilesystemBlobStore.rewrite_days``, the daily job's pass (``reports/day_reset.py``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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
    # True where a blob is written in the caller's database transaction (PostgreSQL's store):
    # it commits and rolls back with the rows that point to it.
    transactional: bool

    def bound(self, session: Session) -> BlobStore: ...
    def day_start(self, day: date) -> int: ...
    def put(self, stream: BinaryIO, max_bytes: int, key: str | None = None) -> StoredBlob: ...
    def create(self, max_bytes: int, key: str | None = None) -> BlobWriter: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def keys(self, min_age: float = 0.0) -> Iterator[str]: ...


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_stream(stream: BinaryIO, chunk_bytes: int) -> tuple[int, str]:
    """The size and SHA-256 of what ``stream`` holds from here to its end, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(chunk_bytes):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def day_start(day: date, zone: tzinfo) -> int:
    """The start of ``day`` in ``zone``, in seconds since the epoch: the one time that files
    tied to a report of that day carry (access and modification)."""
    return int(datetime.combine(day, clock_time.min, zone).timestamp())


def _day_only(path: Path | int, stamp: int) -> None:
    # A file's times would tell when a reporter sent it, to the second: keep the day only.
    # (The change time, ctime, cannot be set from user space: rewrite_days replaces it.)
    os.utime(path, (stamp, stamp))


class BlobWriting:
    """What every store's writer does as a blob's bytes arrive: bound its size, hash it, keep
    its first bytes (for the type check); ``_put`` stores each piece."""

    key: str

    def __init__(self, max_bytes: int) -> None:
        self.size = 0
        self._max = max_bytes
        self._digest = hashlib.sha256()
        self._head = b""
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; past ``max_bytes`` the blob is dropped and BlobTooLarge raised."""
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
        self._put(view)
        return view.nbytes

    def _put(self, view: memoryview) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class FileBlobWriter(BlobWriting):
    """A new blob file being written; ``commit`` makes it durable, ``abort`` removes it."""

    def __init__(
        self, store: FilesystemBlobStore, path: Path, max_bytes: int, changed_folders: list[Path]
    ) -> None:
        super().__init__(max_bytes)
        self._store = store
        self.key = path.name
        self._path = path
        self._folders = changed_folders
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    def _put(self, view: memoryview) -> None:
        self._file.write(view)

    def commit(self) -> StoredBlob:
        """Finish the blob: on disk, with its folder entry, when this returns."""
        if self._done:
            raise BlobError("the blob is finished")
        try:
            stamp = self._store.day_start(self._store.today())
            self._file.flush()
            _day_only(self._file.fileno(), stamp)
            os.fsync(self._file.fileno())
            self._file.close()
            for folder in self._folders:  # its folder, and any folder made for it
                _day_only(folder, stamp)
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
        stamp = self._store.day_start(self._store.today())
        with self._store.entries_locked():
            self._path.unlink(missing_ok=True)
            for folder in self._folders:
                if folder.exists():
                    _day_only(folder, stamp)


_NOATIME = getattr(os, "O_NOATIME", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_STAGING = ".staging"  # copies being made by rewrite_days
_NEW = re.compile(r"^\.([0-9a-f]{2})\.new$")  # a folder being rebuilt (or the old one, swapped)
_RENAME_EXCHANGE = 2  # renameat2(2): swap two names at once
_AT_FDCWD = -100
_RANDOM = secrets.SystemRandom()
_UTC_DAY_NS = 86400 * 1_000_000_000


def _exchange(first: Path, second: Path) -> None:
    """Swap two names in one step (Linux renameat2 RENAME_EXCHANGE); OSError where unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    status = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if status != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first))


@dataclass
class RewriteResult:
    """What ``rewrite_days`` did."""

    rewritten: int = 0  # blobs copied to new files
    folders: int = 0  # folders rebuilt (entries made anew, in a random order)
    # False where the filesystem cannot swap two folders at once: files were then renamed
    # over their originals, and their folders keep the order of their entries.
    folders_rebuilt: bool = True
    gone: list[str] = field(default_factory=list)  # deleted while the pass ran: left deleted


class FilesystemBlobStore:
    """Blobs as files under ``root``, in two levels of folders named by the key.

    ``zone`` is the enterprise's time zone: the day a blob is dated by is the day there, as a
    report's ``received_on`` is. ``clock`` (seconds since the epoch) is for tests.
    """

    transactional = False

    def __init__(
        self,
        root: str | os.PathLike[str],
        zone: tzinfo = UTC,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.zone = zone
        self._clock = clock

    def bound(self, session: Session) -> FilesystemBlobStore:
        """The same store: files are no part of a database transaction."""
        return self

    def now(self) -> float:
        return self._clock()

    def today(self) -> date:
        """Today in the store's zone: the day new blobs are dated by."""
        return self.day_of(self._clock())

    def day_of(self, seconds: float) -> date:
        return datetime.fromtimestamp(seconds, self.zone).date()

    def day_start(self, day: date) -> int:
        """The time (access and modification) that the files of ``day`` carry."""
        return day_start(day, self.zone)

    @contextmanager
    def entries_locked(self, exclusive: bool = False) -> Iterator[None]:
        """Held, shared, while a folder entry is made or removed; exclusive while a folder is
        rebuilt (``rewrite_days``), so that no entry is made or removed meanwhile.

        A lock (flock) on the root folder itself, taken on a descriptor of its own each time:
        it works across threads and processes, and leaves no file behind whose times would
        say when the first blob came.
        """
        try:
            fd = os.open(self.root, os.O_RDONLY | _DIRECTORY)
        except FileNotFoundError:  # no blob yet: nothing to rebuild, nothing to race with
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # and with it the lock

    def prepare(self) -> None:
        """Make the root and every folder a blob can go to, once, when the server starts.

        A folder's birth time (statx) is set when it is made and no call can change it: were
        a folder made by a report's upload, it would keep the nanosecond that report came
        (the daily job rebuilds only the folders that hold a day's blobs)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for first in range(256):
            (self.root / f"{first:02x}").mkdir(exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise BlobError("not a blob key")
        return self.root / key[:2] / key

    def create(self, max_bytes: int, key: str | None = None) -> FileBlobWriter:
        """A new blob under a random key, to be written to and then committed or aborted
        (``key``: the one a migration of the store keeps; no file may have it yet)."""
        path = self._path(key if key is not None else secrets.token_hex(16))
        folder = path.parent
        # The folder gets a new entry; so does the parent of every folder made here.
        changed = [folder]
        missing = folder
        while not missing.exists():
            changed.append(missing.parent)
            missing = missing.parent
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.entries_locked():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return FileBlobWriter(self, path, max_bytes, changed)

    def put(self, stream: BinaryIO, max_bytes: int, key: str | None = None) -> StoredBlob:
        """Copy ``stream`` in chunks (constant memory), hashing and counting on the way."""
        writer = self.create(max_bytes, key)
        try:
            while chunk := stream.read(CHUNK):
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def open(self, key: str) -> BinaryIO:
        """The blob, for reading. Its access time is left alone where the system allows it
        (O_NOATIME): reading a report must not date the reading, nor undo the day's stamp."""
        path = self._path(key)
        try:
            try:
                fd = os.open(path, os.O_RDONLY | _NOATIME)
            except PermissionError:  # O_NOATIME needs the file's owner
                fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise BlobError("no such blob") from None
        return os.fdopen(fd, "rb")

    def delete(self, key: str) -> None:
        """Remove the blob; gone from its folder on disk when this returns (the folder is
        fsynced: a purge must not come back after a crash)."""
        path = self._path(key)
        stamp = self.day_start(self.today())
        with self.entries_locked():
            path.unlink(missing_ok=True)
            if path.parent.exists():
                _day_only(path.parent, stamp)  # a removal would date its folder to the second
                _fsync_folder(path.parent)

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [f for f in sorted(self.root.iterdir()) if _FOLDER_RE.match(f.name) and f.is_dir()]

    def keys(self, min_age: float = 0.0) -> Iterator[str]:
        """Every key on disk (unfinished writes too) written ``min_age`` seconds ago or more."""
        oldest = self._clock() - min_age
        for folder in self._folders():
            for entry in sorted(folder.iterdir()):
                if not (KEY_RE.match(entry.name) and entry.name[:2] == folder.name):
                    continue
                try:
                    modified = entry.stat().st_mtime
                except FileNotFoundError:  # deleted meanwhile
                    continue
                if min_age <= 0 or modified <= oldest:
                    yield entry.name

    # -- the daily pass ---------------------------------------------------------------------

    def days_before(self, today: date, after: date | None = None) -> dict[str, date]:
        """The blobs of the days after ``after`` (every day if None) and before ``today``, with
        their day, as their modification time says; never a blob still being written.

        A finished blob carries the start of its day to the nanosecond (earlier versions of
        the portal: the start of the UTC day); one being written carries the time of its last
        write. A file with neither, a day old or more, was left by a write that never
        finished: taken too, by the day of its time. A write still going on is always younger
        than a day. (A file left by a write that failed in the last day is not taken, nor is it
        the next day: ``portal reports fsck`` removes it, as an orphan, two days on.)
        """
        found: dict[str, date] = {}
        old = self._clock() - 86400
        for folder in self._folders():
            for name in os.listdir(folder):
                if not (KEY_RE.match(name) and name[:2] == folder.name):
                    continue
                try:
                    stat = os.stat(folder / name)
                except FileNotFoundError:
                    continue
                day = self.day_of(stat.st_mtime_ns / 1e9)
                finished = stat.st_mtime_ns in (
                    self.day_start(day) * 1_000_000_000,
                    stat.st_mtime_ns // _UTC_DAY_NS * _UTC_DAY_NS,  # dated by earlier versions
                )
                if not (finished or stat.st_mtime < old):
                    continue
                if day < today and (after is None or day > after):
                    found[name] = day
        return found

    def recover(self) -> None:
        """Finish what an interrupted ``rewrite_days`` left: its copies go, and of a folder
        and its rebuilt twin the complete one stays (see ``rewrite_days``)."""
        if not self.root.is_dir():
            return
        with self.entries_locked(exclusive=True):
            if (self.root / _STAGING).exists():
                shutil.rmtree(self.root / _STAGING)
            for entry in self.root.iterdir():
                match = _NEW.match(entry.name)
                if not match:
                    continue
                if (self.root / match.group(1)).is_dir():
                    shutil.rmtree(entry)
                else:  # never left by rewrite_days: keep it for the operator to look at
                    raise BlobError(f"{entry} has no folder {match.group(1)} beside it")
            _fsync_folder(self.root)

    def rewrite_days(
        self,
        days: Mapping[str, date],
        shuffle: Callable[[list[str]], None] = _RANDOM.shuffle,
    ) -> RewriteResult:
        """Give each blob of ``days`` a new file and each of their folders new entries, in a
        random order; date the files and folders by their day.

        Left alone, the kernel keeps the moment each blob was written in its change time
        (ctime, which no call can set), and the order of arrival in its inode number and in
        its folder's entries (``ls -f``, and every copy made by ``cp`` or ``tar``). So:

        1. each blob is copied, in a random order, to a new file in a staging folder (a new
           inode, taken in that order), fsynced and dated by its day;
        2. each folder that holds one is rebuilt, in a random order of folders: a new folder
           gets every entry in a random order (the copies moved in, every other file linked:
           the same inode, so a write under way goes on), then the two folders are swapped in
           one step (``renameat2`` RENAME_EXCHANGE) and the old one removed. Entries are made
           and removed under the shared lock (``entries_locked``), which this holds
           exclusively while it rebuilds a folder: nothing is added or deleted meanwhile, and
           a blob deleted while it was being copied stays deleted;
        3. every folder is dated again by its day (its change time is then the pass's).

        Nothing is ever lost: until a swap, the old folder holds every blob; after it, the new
        one does; the copies are fsynced before they replace anything. An interrupted pass is
        finished by ``recover`` and can simply be run again.
        """
        result = RewriteResult()
        self.recover()
        if not days:
            self._date_folders({})
            return result
        staging = self.root / _STAGING
        staging.mkdir(mode=0o700)
        order = list(days)
        shuffle(order)
        staged: dict[str, list[str]] = {}
        for key in order:
            if self._stage_copy(key, staging / key, self.day_start(days[key])):
                staged.setdefault(key[:2], []).append(key)
            else:
                result.gone.append(key)
        _fsync_folder(staging)
        folders = list(staged)
        shuffle(folders)
        folder_days: dict[str, date] = {}
        for name in folders:
            rebuilt, gone = self._rebuild(name, set(staged[name]), staging, shuffle, folder_days)
            result.folders_rebuilt &= rebuilt
            result.folders += 1
            result.rewritten += len(staged[name]) - len(gone)
            result.gone += gone
        shutil.rmtree(staging)
        self._date_folders(folder_days)
        return result

    def _stage_copy(self, key: str, target: Path, stamp: int) -> bool:
        try:
            source = self._path(key).open("rb")
        except FileNotFoundError:
            return False
        with (
            source,
            open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out,
        ):
            shutil.copyfileobj(source, out, CHUNK)
            out.flush()
            _day_only(out.fileno(), stamp)
            os.fsync(out.fileno())
        return True

    def _rebuild(
        self,
        name: str,
        copies: set[str],
        staging: Path,
        shuffle: Callable[[list[str]], None],
        folder_days: dict[str, date],
    ) -> tuple[bool, list[str]]:
        folder = self.root / name
        new = self.root / f".{name}.new"
        gone: list[str] = []
        with self.entries_locked(exclusive=True):
            entries = os.listdir(folder)
            gone = sorted(copies - set(entries))
            for key in gone:  # deleted since it was copied: it stays deleted
                (staging / key).unlink()
            new.mkdir(mode=0o700)
            shuffle(entries)
            newest = None
            for entry in entries:
                if entry in copies:
                    os.rename(staging / entry, new / entry)
                else:
                    os.link(folder / entry, new / entry, follow_symlinks=False)
                day = min(self.day_of(os.stat(new / entry).st_mtime), self.today())
                newest = day if newest is None or day > newest else newest
            _fsync_folder(new)
            try:
                _exchange(new, folder)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                self._rename_over(folder, new, copies - set(gone))
                rebuilt = False
            else:
                _fsync_folder(self.root)
                rebuilt = True
            shutil.rmtree(new)  # the old folder, now under the other name
            if newest is not None:
                folder_days[name] = newest
        return rebuilt, gone

    def _rename_over(self, folder: Path, new: Path, copies: set[str]) -> None:
        # Without an exchange: each copy replaces its original under the same name (the
        # folder keeps its entries' order); the links in the new folder are then dropped.
        for key in copies:
            os.rename(new / key, folder / key)
        _fsync_folder(folder)

    def _date_folders(self, folder_days: Mapping[str, date]) -> None:
        """Date every folder by its day again: the newest day of its entries, or, for folders
        the pass did not rebuild, the day they already say; the root by today, and the folder
        above it by its day. Their change time becomes now."""
        today = self.today()
        for folder in self._folders():
            day = folder_days.get(folder.name) or min(self.day_of(folder.stat().st_mtime), today)
            _day_only(folder, self.day_start(day))
        if self.root.is_dir():
            _day_only(self.root, self.day_start(today))
            # The folder above got an entry when the root was made, with the first blob.
            above = self.root.parent
            _day_only(above, self.day_start(min(self.day_of(above.stat().st_mtime), today)))
