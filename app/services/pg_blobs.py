"""Blob store in PostgreSQL itself: every server that shares the database reads every file.

A blob is a ``blobs`` row (random key, size, SHA-256) and its bytes in ``blob_chunks`` rows of
``CHUNK_BYTES`` each (the last one fewer), numbered from 0 (app/models/blobs.py). Chunks are
written as they come and read one at a time, so neither a write nor a read holds more than a
chunk or two in memory, whatever the size of the file, and nothing is written to a temporary
file.

The rows are written through the connection of the caller's session, in its transaction: a
report's blobs commit with its rows, and a transaction rolled back leaves none of them. That
is the session bound with ``bound(session)``, else, in a request, the request's session
(``app.db.get_session``). Without either (a script, a migration of the store), each blob is
written in a transaction of its own, committed by ``BlobWriter.commit``.

A read goes through the connection of the session's transaction while it lasts (a blob it
wrote is seen by no other connection yet, and a request never holds two connections of the
pool at once); after that, or without one, through a connection of its own for as long as
the reader is open, each chunk in a snapshot of its own (autocommit): a blob's chunks never
change once written, and a download read slowly holds no snapshot between its reads, which
would keep every row version it may see (and put off the daily pass, docs/reports.md). A
blob deleted meanwhile (a purge) ends the read with BlobError.

Rows carry no time: what PostgreSQL keeps besides (transaction ids in ``xmin``, the
write-ahead log, statistics) is described in docs/reports.md.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import BigInteger, cast, delete, func, insert, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.models.blobs import BlobChunk, StoredBlobRow
from app.services.blobs import (
    KEY_RE,
    BlobError,
    BlobWriting,
    RewriteResult,
    StoredBlob,
    day_start,
    hash_stream,
)

CHUNK_BYTES = 256 * 1024
_CHUNK_QUERY = "SELECT data FROM blob_chunks WHERE key = %s AND seq = %s"
_WRITTEN = "portal.pg_blobs_written"  # session.info: keys written through that session

SessionSource = Callable[[], Session | None]


def _no_session() -> Session | None:
    return None


def _check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise BlobError("not a blob key")
    return key


class PgBlobWriter(BlobWriting):
    """A new blob being written chunk by chunk; ``commit`` adds its ``blobs`` row."""

    def __init__(self, store: PostgresBlobStore, max_bytes: int, key: str | None = None) -> None:
        super().__init__(max_bytes)
        self.key = _check_key(key) if key is not None else secrets.token_hex(16)
        self._store = store
        self._buffer = bytearray()
        self._seq = 0
        self._session = store.session()
        self._own: Connection | None = None
        if self._session is None:  # a transaction of its own, committed with the blob
            self._own = store.engine.connect()
            self._own.begin()

    def _connection(self) -> Connection:
        if self._own is not None:
            return self._own
        assert self._session is not None
        return self._session.connection()

    def _put(self, view: memoryview) -> None:
        self._buffer += view
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush(CHUNK_BYTES)

    def _flush(self, n: int) -> None:
        piece = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._connection().execute(
            insert(BlobChunk).values(key=self.key, seq=self._seq, data=piece)
        )
        self._seq += 1

    def commit(self) -> StoredBlob:
        """Write the last chunk and the ``blobs`` row: part of the session's transaction (or,
        without one, committed here)."""
        if self._done:
            raise BlobError("the blob is finished")
        try:
            if self._buffer:
                self._flush(len(self._buffer))
            digest = self._digest.hexdigest()
            self._connection().execute(
                insert(StoredBlobRow).values(key=self.key, size=self.size, sha256=digest)
            )
            if self._own is not None:
                self._own.commit()
                self._own.close()
            else:
                assert self._session is not None
                self._session.info.setdefault(_WRITTEN, set()).add(self.key)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StoredBlob(self.key, self.size, digest, self._head)

    def abort(self) -> None:
        """Drop what was written (nothing happens once it is committed)."""
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._own is not None:
            self._own.close()  # rolls the blob's own transaction back
            return
        assert self._session is not None
        # A transaction that failed is rolled back whole, these rows with it.
        with contextlib.suppress(SQLAlchemyError):
            self._session.connection().execute(delete(BlobChunk).where(BlobChunk.key == self.key))


class PgBlobReader(io.RawIOBase):
    """A blob read a chunk at a time (seekable: its size is known from its row)."""

    def __init__(
        self,
        key: str,
        size: int,
        fetch: Callable[[int], bytes | None],
        release: Callable[[], None],
    ) -> None:
        super().__init__()
        self.key = key
        self.size = size
        self._fetch = fetch
        self._release = release
        self._pos = 0
        self._seq = -1
        self._chunk = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError("negative seek position")
        self._pos = target
        return target

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read of a closed blob")
        if self._pos >= self.size:
            return 0
        seq, offset = divmod(self._pos, CHUNK_BYTES)
        if seq != self._seq:
            data = self._fetch(seq)
            expected = min(CHUNK_BYTES, self.size - seq * CHUNK_BYTES)
            if data is None or len(data) != expected:
                raise BlobError(f"blob {self.key} is damaged: chunk {seq} missing or cut")
            self._seq, self._chunk = seq, data
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._chunk) - offset)
        view[:n] = self._chunk[offset : offset + n]
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._chunk = b""
            self._release()
        super().close()


class _ReadConnection:
    """The connection a reader queries: the one its session holds while the session's
    transaction lasts, then one of its own.

    A request holds one connection of the pool at a time: had it asked the pool for a second
    one to read a blob, requests that each hold one would wait on each other once they held
    the whole pool (forty downloads of one public attachment at once did, and got 500s after
    30 s). Once the session's transaction ends (a commit, or the request's end: a download
    is streamed after it), the thread holds no other connection, and the rest of the blob is
    read through one of its own until the reader closes, each query a transaction of its own
    (AUTOCOMMIT): a download streamed to a client that reads slowly keeps no snapshot open.
    """

    def __init__(self, engine: Engine, borrowed: Connection | None) -> None:
        self._engine = engine
        self._borrowed = borrowed
        self._own: Connection | None = None

    def get(self) -> Connection:
        if self._borrowed is not None and not self._borrowed.closed:
            return self._borrowed
        self._borrowed = None
        if self._own is None:
            self._own = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._own

    def release(self) -> None:
        self._borrowed = None
        if self._own is not None:
            self._own.close()
            self._own = None


@dataclass(frozen=True)
class BlobCheck:
    """What ``PostgresBlobStore.check`` found of one blob: None where all is well."""

    key: str
    size: int  # as its row says
    problem: str | None


class PostgresBlobStore:
    """Blobs in ``blobs`` and ``blob_chunks`` (see the module's doc).

    ``session`` gives the session whose transaction the rows are written in (None: each
    blob in its own). ``zone`` and ``clock`` are the filesystem store's: the day a report's
    commit is dated by (SQLite's files; nothing here).
    """

    transactional = True

    def __init__(
        self,
        engine: Engine,
        session: SessionSource = _no_session,
        zone: tzinfo = UTC,
        clock: Callable[[], float] = time.time,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.engine = engine
        self._session_source = session
        self.zone = zone
        self._clock = clock
        # The blob folder of the filesystem store: it holds no blob here. Releases before 0023
        # kept the daily pass's marker there; the pass carries it into the database once
        # (reports/day_reset.py).
        self.root = Path(root) if root is not None else None

    def bound(self, session: Session) -> PostgresBlobStore:
        """This store, writing and deleting in ``session``'s transaction."""
        return PostgresBlobStore(self.engine, lambda: session, self.zone, self._clock, self.root)

    def session(self) -> Session | None:
        return self._session_source()

    def now(self) -> float:
        return self._clock()

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), self.zone).date()

    def day_start(self, day: date) -> int:
        return day_start(day, self.zone)

    def prepare(self) -> None:
        """Nothing to make: the tables come with the schema (0021), and the daily pass keeps
        its marker in the database (0023)."""

    # -- writing -----------------------------------------------------------------------------

    def create(self, max_bytes: int, key: str | None = None) -> PgBlobWriter:
        """A new blob under a random key (``key``: the one a migration of the store keeps)."""
        return PgBlobWriter(self, max_bytes, key)

    def put(self, stream: BinaryIO, max_bytes: int, key: str | None = None) -> StoredBlob:
        """Copy ``stream`` chunk by chunk, hashing and counting on the way."""
        writer = self.create(max_bytes, key)
        try:
            while chunk := stream.read(CHUNK_BYTES):
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def delete(self, key: str) -> None:
        """Delete the blob's rows: in the session's transaction (or at once, outside one)."""
        _check_key(key)
        statements = (
            delete(BlobChunk).where(BlobChunk.key == key),
            delete(StoredBlobRow).where(StoredBlobRow.key == key),
        )
        session = self.session()
        # In the session's transaction while it is under way; after it was rolled back (a
        # report refused: its blobs went with it), whatever of them was committed apart is
        # deleted at once.
        if session is not None and session.in_transaction():
            connection = session.connection()
            for statement in statements:
                connection.execute(statement)
            return
        with self.engine.begin() as connection:
            for statement in statements:
                connection.execute(statement)

    # -- reading -----------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """The blob, read a chunk at a time; BlobError when there is none.

        While the session has a transaction under way, through the connection it holds (see
        ``_ReadConnection``); otherwise through a connection of its own.
        """
        _check_key(key)
        session = self.session()
        borrowed = None
        if session is not None and (
            session.in_transaction() or key in session.info.get(_WRITTEN, ())
        ):
            borrowed = session.connection()
        connection = _ReadConnection(self.engine, borrowed)
        try:
            return self._reader(key, connection)
        except BaseException:
            connection.release()
            raise

    def _reader(self, key: str, connection: _ReadConnection) -> BinaryIO:
        size = connection.get().scalar(select(StoredBlobRow.size).where(StoredBlobRow.key == key))
        if size is None:
            raise BlobError("no such blob")

        def fetch(seq: int) -> bytes | None:
            # Through the driver's cursor, to have the bytes sent in binary: as text they
            # come hex-encoded, twice their size, and are decoded here.
            raw = connection.get().connection.dbapi_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(_CHUNK_QUERY, (key, seq), binary=True)
                row = cursor.fetchone()
            return None if row is None else bytes(row[0])

        # Buffered as a file opened for reading is: read(n) gives n bytes until the end.
        return io.BufferedReader(PgBlobReader(key, size, fetch, connection.release), 64 * 1024)  # type: ignore[return-value]

    def _read_connection(self) -> Iterator[Connection]:
        session = self.session()
        if session is not None:
            yield session.connection()
            return
        with self.engine.connect() as connection:
            yield connection

    def keys(self, min_age: float = 0.0) -> Iterator[str]:
        """Every key with a ``blobs`` row or a chunk. Rows have no age: one not yet committed
        is seen by no other transaction, so ``min_age`` has nothing to wait for."""
        del min_age
        for connection in self._read_connection():
            found = set(connection.scalars(select(StoredBlobRow.key)))
            found.update(connection.scalars(select(BlobChunk.key).distinct()))
        yield from sorted(found)

    def stat(self, key: str) -> tuple[int, str] | None:
        """The size and SHA-256 the blob's row says; None without a row."""
        for connection in self._read_connection():
            row = connection.execute(
                select(StoredBlobRow.size, StoredBlobRow.sha256).where(StoredBlobRow.key == key)
            ).first()
        return None if row is None else (row[0], row[1])

    def check(self, key: str, size: int, sha256: str) -> str | None:
        """Read the blob to its end and say what is wrong with it (None: nothing)."""
        try:
            with self.open(key) as blob:
                read, found = hash_stream(blob, CHUNK_BYTES)
        except BlobError as exc:
            return str(exc)
        if read != size:
            return f"{read} bytes where its row says {size}"
        if found != sha256:
            return "its bytes do not hash to the SHA-256 its row holds"
        return None

    def check_all(self) -> Iterator[BlobCheck]:
        """Every blob checked (chunks counted, bytes hashed), and every chunk without a blob."""
        for connection in self._read_connection():
            rows = list(
                connection.execute(
                    select(StoredBlobRow.key, StoredBlobRow.size, StoredBlobRow.sha256).order_by(
                        StoredBlobRow.key
                    )
                )
            )
            loose = list(
                connection.execute(
                    select(BlobChunk.key, func.count())
                    .where(BlobChunk.key.not_in(select(StoredBlobRow.key)))
                    .group_by(BlobChunk.key)
                    .order_by(BlobChunk.key)
                )
            )
            # Chunks numbered outside the blob (past its size, or below 0): a read stops at
            # the size and never sees them, so only a count finds them.
            first_byte = cast(BlobChunk.seq, BigInteger) * CHUNK_BYTES
            outside = {
                key: count
                for key, count in connection.execute(
                    select(BlobChunk.key, func.count())
                    .join(StoredBlobRow, StoredBlobRow.key == BlobChunk.key)
                    .where(or_(BlobChunk.seq < 0, first_byte >= StoredBlobRow.size))
                    .group_by(BlobChunk.key)
                )
            }
        for key, size, sha256 in rows:
            problem = self.check(key, size, sha256)
            if problem is None and key in outside:
                problem = f"{outside[key]} chunk(s) outside its {size} bytes"
            yield BlobCheck(key, size, problem)
        for key, count in loose:
            yield BlobCheck(key, 0, f"{count} chunk(s) without a blobs row")

    # -- the daily pass: nothing to do -------------------------------------------------------

    def days_before(self, today: date, after: date | None = None) -> dict[str, date]:
        """No file times to reset: rows carry no time (see docs/reports.md)."""
        return {}

    def recover(self) -> None:
        """Nothing is left half done by a pass that does nothing."""

    def rewrite_days(
        self, days: Mapping[str, date], shuffle: Callable[[list[str]], None] | None = None
    ) -> RewriteResult:
        """Nothing to rewrite: no file, no folder, no time (the rows' own traces are the
        database's, settled by the daily pass's CLUSTER of the tables)."""
        return RewriteResult()
