"""The daily pass that leaves no time finer than the day of the previous days' reports.

A report's rows say the day it came (``received_on``) and its blobs carry the start of that
day. What the system keeps besides would still tell the moment, or the order within the day:

- each blob file's change time (ctime: the nanosecond it was written, no call can set it), its
  inode number and its place among its folder's entries (both in order of arrival);
- on PostgreSQL, each row's ``xmin`` (the id of the transaction that wrote it, increasing) and
  ``ctid`` (its place in the table file, in order of insertion), and the same order in the
  indexes' pages;
- on SQLite, where rows lie in the order of their random keys, the place of each row within its
  page (a page fills from its end: later rows lie lower) and the pages added as tables grew;
  the write-ahead log holds the pages of the last commits in their order.

So, once a day, for the days after the last one done and before today (``portal jobs run
reset-times``, and every ``JOBS_EVERY_SECONDS`` under ``portal run`` and ``portal serve``,
where a run with nothing to do makes one small read: the marker's row, or on SQLite its file):

1. the blobs of those days get new files and their folders new entries, in a random order
   (``FilesystemBlobStore.rewrite_days``; blobs kept in PostgreSQL have no files: their rows
   are rewritten with the reports' in step 2);
2. on PostgreSQL the rows of those days' reports (their files, readers and exclusions, their
   cases and inbox rows) and of the messages of those days (with their reports' cases and
   inbox rows, and, with the PostgreSQL blob store, the ``blobs`` and ``blob_chunks`` rows of
   their files) are written again in one transaction, one by one in a random
   order (all then share one ``xmin``, the pass's), then each of these tables is rewritten in
   the order of its primary key (``CLUSTER``: random ids, new files, dead versions gone) and,
   where the role may, the write-ahead log is switched and a checkpoint made, so that the
   segments holding the days' commits can be removed; on SQLite the database is rebuilt
   (``VACUUM``: every table and index in the order of its keys, no free pages left) and its
   write-ahead log emptied (``wal_checkpoint(TRUNCATE)``);
3. the database files (SQLite) and every blob folder are dated by the day again, and the day
   done is marked, last.

Where the marker and the lock are kept depends on who shares the rows:

- on PostgreSQL, in the database: several servers, each with an instance folder of its own,
  rewrite the same rows, so one pass does the days for all of them. The day done is the one
  row of ``days_reset_markers`` (a date, nothing else: app/models/day_reset.py), and the
  lock an advisory lock (``pg_try_advisory_lock``) held by a connection of its own for the
  whole pass, in autocommit (no transaction kept open meanwhile) and released at its end,
  even on an error; a connection that cannot release it is closed, which does. The marker
  left by an earlier release in the machine's blob folder (``.days-reset``) is carried into
  the table by the first pass that finds the table empty, and the file removed;
- on SQLite (one machine), in the blob folder: the day done in ``.days-reset``, locked with
  ``flock`` while the pass runs.

An interrupted pass loses nothing (see ``rewrite_days``) and is run again whole at the next
round: the marker moves on only once everything is done. A second pass started meanwhile (on
this server or, on PostgreSQL, any other) raises ResetBusy and leaves the work to the first.
What stays is in docs/reports.md ("What the servers keep of the time").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db import sqlite_file
from app.models import (
    Case,
    DaysResetMarker,
    InboxEntry,
    Report,
    ReportEnvelope,
    ReportExclusion,
    ReportMessage,
    ReportReader,
)
from app.services.blobs import BlobStore, RewriteResult

MARKER = ".days-reset"  # in the blob folder (SQLite): the last day done, as YYYY-MM-DD
# PostgreSQL's advisory lock of the pass: its two keys are this one and the schema's oid, so
# that the servers of one installation exclude each other, and installations kept in other
# schemas of the same database (or tests running side by side) do not.
LOCK_ID = 0x6461_7973  # "days"
_LOCK_KEYS = "(:id, (SELECT oid FROM pg_namespace WHERE nspname = current_schema())::int)"
_CHUNK = 500  # ids per IN (...) list
_RANDOM = secrets.SystemRandom()
# How long the pass waits, before CLUSTER, for the sessions that may still see the rows as they
# were before its rewrite (OldSnapshots).
SNAPSHOT_WAIT_SECONDS = 60.0
Shuffle = Callable[[list], None]


class ResetBusy(Exception):
    """Another pass holds the lock."""


class OldSnapshots(Exception):
    """Sessions of the database still see the rows as they were before the pass rewrote them.

    PostgreSQL keeps a dead row version while any transaction's snapshot may see it, and
    CLUSTER copies such versions (with their old ``xmin``, and their values stored apart under
    their old ids) into the new table. The pass waits for those sessions; when they outlast
    the wait it stops before CLUSTER, marks nothing, and the next round does it again.
    """

    def __init__(self, holders: list[str]) -> None:
        # Process ids, names of prepared transactions and slots only: the server's own views
        # (pg_stat_activity, pg_prepared_xacts, pg_replication_slots) tell the rest to whoever
        # may see them; a line of the jobs' log keeps no session's times.
        described = ", ".join(holders)
        super().__init__(
            f"the rows as they were before the rewrite are still kept for: {described}"
        )
        self.holders = holders


@dataclass
class ResetOutcome:
    """What a pass did; ``line`` says it for the job's output."""

    first_day: date | None  # None: every day before ``last_day``
    last_day: date
    blobs: RewriteResult
    rows: int
    database: str

    @property
    def line(self) -> str:
        days = (
            f"the days up to {self.last_day}"
            if self.first_day is None
            else f"{self.first_day} to {self.last_day}"
        )
        folders = "" if self.blobs.folders_rebuilt else " (entries kept their order: see docs)"
        return (
            f"{days}: {self.blobs.rewritten} blobs rewritten in {self.blobs.folders} folders"
            f"{folders}, {self.rows} rows written again; {self.database}"
        )


def _read_marker(text_value: str) -> date | None:
    try:
        return date.fromisoformat(text_value.strip())
    except ValueError:  # missing, or cut short by a crash: the pass is done again, whole
        return None


def last_reset_day(
    database: Session | Connection | Engine, where: Path | BlobStore | None
) -> date | None:
    """The last day the pass finished (None: never, or unreadable).

    On PostgreSQL the database's marker, the same for every server that shares it; on SQLite
    the marker in the blob folder (``where``, or the store's).
    """
    if _dialect(database) == "postgresql":
        if isinstance(database, Engine):
            with database.connect() as connection:
                return _shared_marker(connection)
        return _shared_marker(database)
    root = where if isinstance(where, Path) else getattr(where, "root", None)
    return None if root is None else _file_marker(root)


def _dialect(database: Session | Connection | Engine) -> str:
    bind = database.get_bind() if isinstance(database, Session) else database
    return bind.dialect.name


def _file_marker(root: Path) -> date | None:
    try:
        return _read_marker((root / MARKER).read_text("ascii"))
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None


def _shared_marker(database: Session | Connection) -> date | None:
    return database.scalar(select(DaysResetMarker.last_day))


def _mark_shared(connection: Connection, day: date) -> None:
    row = postgresql_insert(DaysResetMarker).values(last_day=day)
    connection.execute(
        row.on_conflict_do_update(index_elements=["id"], set_={"last_day": row.excluded.last_day})
    )


def reset_previous_days(
    session: Session,
    blobs: BlobStore,
    today: date,
    shuffle: Shuffle = _RANDOM.shuffle,
    snapshot_wait: float | None = None,
) -> str:
    """Run the pass for the days not yet done before ``today``; a line saying what it did.

    Cheap when there is nothing to do: one small read (PostgreSQL: the marker's one row; SQLite:
    the marker file). Raises ResetBusy when another pass is running (on PostgreSQL: on any
    server that shares the database), and on PostgreSQL OldSnapshots when sessions that may
    still see the rows as they were outlast ``snapshot_wait`` seconds; the next round tries
    again (``snapshot_wait`` None: SNAPSHOT_WAIT_SECONDS).
    """
    if snapshot_wait is None:
        snapshot_wait = SNAPSHOT_WAIT_SECONDS
    if session.get_bind().dialect.name == "postgresql":
        return _reset_for_every_server(session, blobs, today, shuffle, snapshot_wait)
    root = getattr(blobs, "root", None)  # the blob folder: the pass's marker is kept there
    if root is None:
        return "the blob store has no folder for the pass's marker: nothing to reset"
    if not root.is_dir():
        if not blobs.transactional:
            return "no report yet"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)  # the marker's folder only
    yesterday = today - timedelta(days=1)
    last = _file_marker(root)
    if last is not None and last >= yesterday:
        return f"nothing to do: the days up to {last} are reset"
    fd = os.open(root / MARKER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResetBusy("another pass is running") from None
        with os.fdopen(os.dup(fd), "r", encoding="ascii", errors="replace") as marker:
            last = _read_marker(marker.read())
        if last is not None and last >= yesterday:
            return f"nothing to do: the days up to {last} are reset"
        outcome = _reset(session, blobs, last, yesterday, today, shuffle)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{yesterday.isoformat()}\n".encode("ascii"), 0)
        os.fsync(fd)
    finally:
        os.close(fd)  # and the lock with it
    return outcome.line


def _reset_for_every_server(
    session: Session, blobs: BlobStore, today: date, shuffle: Shuffle, snapshot_wait: float
) -> str:
    """The pass on PostgreSQL: its marker and its lock are the database's, so that one pass
    does the days for every server that shares it."""
    root = getattr(blobs, "root", None)
    if not blobs.transactional and not root.is_dir():  # type: ignore[union-attr]
        return "no report yet"
    yesterday = today - timedelta(days=1)
    last = _shared_marker(session)
    session.commit()  # the read's transaction ends here: the pass holds no snapshot
    if last is not None and last >= yesterday:
        return f"nothing to do: the days up to {last} are reset"
    with _advisory_lock(session.get_bind()) as connection:
        last = _shared_marker(connection)  # a pass may have finished since the read above
        if root is not None:
            last = _carry_file_marker(connection, last, root, blobs.day_start(today))
        if last is not None and last >= yesterday:
            return f"nothing to do: the days up to {last} are reset"
        # A session already older than the wait would most likely outlast it: the pass is left
        # to a later round rather than done and undone each round while it lasts.
        held = list(connection.scalars(_LONG_SESSIONS, {"seconds": snapshot_wait}))
        held += connection.scalars(_DEFERRED_CLEANUP)
        if held:
            raise OldSnapshots(held)
        outcome = _reset(session, blobs, last, yesterday, today, shuffle, snapshot_wait)
        _mark_shared(connection, yesterday)  # last: an interrupted pass is done again, whole
    return outcome.line


def _carry_file_marker(
    connection: Connection, last: date | None, root: Path, stamp: int
) -> date | None:
    """Where an earlier release left its marker in this machine's blob folder: its day becomes
    the database's if the database has none (the rows that pass rewrote are the ones every
    server shares), and the file goes, with the time of that pass it kept. The folder is
    dated by the day again (``stamp``). The day the database's marker now says."""
    if not (root / MARKER).exists():
        return last
    carried = _file_marker(root)
    if last is None and carried is not None:
        _mark_shared(connection, carried)
        last = carried
    (root / MARKER).unlink(missing_ok=True)
    os.utime(root, (stamp, stamp))
    return last


@contextlib.contextmanager
def _advisory_lock(engine: Engine) -> Iterator[Connection]:
    """The pass's advisory lock, held for the whole pass by a connection of its own; each
    statement on it commits at once, so it keeps no transaction (nor snapshot) open."""
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if not connection.scalar(text(f"SELECT pg_try_advisory_lock{_LOCK_KEYS}"), {"id": LOCK_ID}):
            raise ResetBusy("another pass is running")
        try:
            yield connection
        finally:
            _release(connection)
    finally:
        connection.close()


def _release(connection: Connection) -> None:
    """Unlock; a connection that cannot say so is closed, not given back to the pool, since
    the server releases a session's advisory locks only when the session ends."""
    try:
        connection.execute(text(f"SELECT pg_advisory_unlock{_LOCK_KEYS}"), {"id": LOCK_ID})
    except Exception:  # the pass's own error, if any, is the one to tell
        connection.invalidate()


def _reset(
    session: Session,
    blobs: BlobStore,
    after: date | None,
    through: date,
    today: date,
    shuffle: Shuffle,
    snapshot_wait: float = SNAPSHOT_WAIT_SECONDS,
) -> ResetOutcome:
    found = blobs.days_before(today, after)
    found.update(_row_days(session, found))
    session.commit()  # no transaction of ours may hold the database while it is rebuilt
    rewritten = blobs.rewrite_days(found, shuffle)
    rows = _rewrite_rows(session, after, through, shuffle, blob_rows=blobs.transactional)
    database = _settle_database(session.get_bind(), rows > 0 or after is None, snapshot_wait)
    date_database_files(session.get_bind(), blobs.day_start(today))
    first = None if after is None else after + timedelta(days=1)
    return ResetOutcome(first, through, rewritten, rows, database)


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _row_days(session: Session, blobs: dict[str, date]) -> dict[str, date]:
    """The day of each blob as its rows say: the day of its message, or of its report. (A
    blob written just before midnight belongs to a report of the next day.)"""
    days: dict[str, date] = {}
    for keys in _chunks(sorted(blobs)):
        rows = session.execute(
            select(ReportEnvelope.blob_key, Report.received_on, ReportMessage.created_on)
            .join(Report, Report.id == ReportEnvelope.report_id)
            .outerjoin(ReportMessage, ReportMessage.id == ReportEnvelope.message_id)
            .where(ReportEnvelope.blob_key.in_(keys))
        )
        for key, received_on, created_on in rows:
            days[key] = created_on or received_on
    return days


def _in_window(column, after: date | None, through: date):  # type: ignore[no-untyped-def]
    return column <= through if after is None else column.between(after + timedelta(1), through)


def _rewrite_rows(
    session: Session,
    after: date | None,
    through: date,
    shuffle: Shuffle,
    *,
    blob_rows: bool = False,
) -> int:
    """Write the rows of the window's reports and messages again, one by one in a random
    order, in one transaction (PostgreSQL). The number of rows of the window. With
    ``blob_rows`` (blobs kept in PostgreSQL) the ``blobs`` and ``blob_chunks`` rows of their
    files too.

    On SQLite nothing is written: ``VACUUM`` rebuilds every page (and there is no ``xmin``).
    """
    report_ids = list(
        session.scalars(select(Report.id).where(_in_window(Report.received_on, after, through)))
    )
    message_ids = list(
        session.scalars(
            select(ReportMessage.id).where(_in_window(ReportMessage.created_on, after, through))
        )
    )
    envelope_ids: list[str] = []
    readers: list[tuple[str, int]] = []
    exclusions: list[tuple[str, int]] = []
    for reports in _chunks(report_ids):
        envelope_ids += session.scalars(
            select(ReportEnvelope.id).where(
                ReportEnvelope.report_id.in_(reports), ReportEnvelope.message_id.is_(None)
            )
        )
        readers += [
            (report_id, staff_id)
            for report_id, staff_id in session.execute(
                select(ReportReader.report_id, ReportReader.staff_id).where(
                    ReportReader.report_id.in_(reports)
                )
            )
        ]
        exclusions += [
            (report_id, staff_id)
            for report_id, staff_id in session.execute(
                select(ReportExclusion.report_id, ReportExclusion.staff_id).where(
                    ReportExclusion.report_id.in_(reports)
                )
            )
        ]
    # A report's case and its inbox rows are written when the report comes and again when its
    # reporter writes (a change the readers see): those of the window's reports and messages.
    written = set(report_ids)
    for messages in _chunks(message_ids):
        envelope_ids += session.scalars(
            select(ReportEnvelope.id).where(ReportEnvelope.message_id.in_(messages))
        )
        written.update(
            session.scalars(select(ReportMessage.report_id).where(ReportMessage.id.in_(messages)))
        )
    cases: list[tuple[str]] = []
    entries: list[tuple[str, int]] = []
    for reports in _chunks(sorted(written)):
        cases += [
            (i,) for i in session.scalars(select(Case.report_id).where(Case.report_id.in_(reports)))
        ]
        entries += [
            (report_id, staff_id)
            for report_id, staff_id in session.execute(
                select(InboxEntry.report_id, InboxEntry.staff_id).where(
                    InboxEntry.report_id.in_(reports)
                )
            )
        ]
    blob_keys: list[tuple[str]] = []
    if blob_rows:
        for envelopes in _chunks(envelope_ids):
            blob_keys += [
                (key,)
                for key in session.scalars(
                    select(ReportEnvelope.blob_key).where(ReportEnvelope.id.in_(envelopes))
                )
            ]
    count = len(report_ids) + len(message_ids) + len(envelope_ids) + len(readers) + len(exclusions)
    count += len(cases) + len(entries) + len(blob_keys)
    if session.get_bind().dialect.name != "postgresql" or count == 0:
        session.commit()
        return count
    # Each statement rewrites one row (a new version, at a new place); a column is set to
    # itself, never a key, so that no foreign key is checked again.
    work = [
        ("UPDATE reports SET status = status WHERE id = :a", [(i,) for i in report_ids]),
        ("UPDATE report_messages SET author = author WHERE id = :a", [(i,) for i in message_ids]),
        # A header encrypted to many readers (twenty or so) is kept apart (TOAST) like a
        # chunk below: made anew, so that it gets a value id of the pass's random order.
        (
            "UPDATE report_envelopes SET header = header || ''::bytea WHERE id = :a",
            [(i,) for i in envelope_ids],
        ),
        ("UPDATE report_readers SET role = role WHERE report_id = :a AND staff_id = :b", readers),
        (
            "UPDATE report_exclusions SET staff_id = staff_id"
            " WHERE report_id = :a AND staff_id = :b",
            exclusions,
        ),
        ("UPDATE cases SET version = version WHERE report_id = :a", cases),
        (
            "UPDATE inbox_entries SET version = version WHERE report_id = :a AND staff_id = :b",
            entries,
        ),
        # A file's chunks keep their own order: it tells nothing the size does not. Their
        # bytes are made anew (a value set to itself keeps its place apart): a chunk stored
        # out of line (TOAST) is kept under a value id given out in increasing order, which
        # CLUSTER keeps; stored again, in this random order, it gets a new one.
        ("UPDATE blobs SET size = size WHERE key = :a", blob_keys),
        ("UPDATE blob_chunks SET data = data || ''::bytea WHERE key = :a", blob_keys),
    ]
    for statement, keys in work:
        keys = list(keys)
        shuffle(keys)
        for key in keys:
            session.execute(text(statement), dict(zip("ab", key, strict=False)))
    session.commit()
    return count


# What may keep row versions of this database: its sessions but the pass's own, and the
# processes of none (a standby's WAL sender without a slot reports its snapshot's there; the
# server's own have none); its prepared transactions (two-phase commit: no session, the
# transaction's id held until COMMIT or ROLLBACK PREPARED); and the replication slots, whose
# ``xmin`` is a standby's oldest snapshot (hot_standby_feedback through a slot), kept while
# the standby is away too. Any role sees these columns (not ``xact_start``: see below). Each
# is named by what tells it in the server's own views: a process id, a prepared
# transaction's name, a slot's name.
_SESSIONS = (
    "SELECT 'pid ' || pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
    " AND (datid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " OR datid IS NULL)"
)
_PREPARED = (
    "SELECT 'prepared transaction ' || quote_literal(gid) FROM pg_prepared_xacts"
    " WHERE database = current_database()"
)
_SLOTS = (
    "SELECT 'replication slot ' || quote_ident(slot_name::text) FROM pg_replication_slots"
    " WHERE (database IS NULL OR database = current_database())"
)
_OLDER = "age({}) > age(CAST(:horizon AS xid))"
# ... whose snapshot or transaction is older than an id (an xid, as text)
_OLDER_SESSIONS = text(
    _SESSIONS
    + f" AND ({_OLDER.format('backend_xmin')} OR {_OLDER.format('backend_xid')})"
    + f" UNION ALL {_PREPARED} AND {_OLDER.format('transaction')}"
    + f" UNION ALL {_SLOTS} AND {_OLDER.format('xmin')} ORDER BY 1"
)
# ... holding a snapshot or a transaction id in a transaction begun (or prepared) more than
# :seconds ago (a slot's snapshot has no time: the wait finds it)
_LONG_SESSIONS = text(
    _SESSIONS + " AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)"
    " AND xact_start < clock_timestamp() - make_interval(secs => :seconds)"
    f" UNION ALL {_PREPARED} AND prepared < clock_timestamp() - make_interval(secs => :seconds)"
    " ORDER BY 1"
)

# PostgreSQL up to 15 keeps every row version for vacuum_defer_cleanup_age more transactions
# (for standbys without feedback), whoever may see them: CLUSTER would copy them all. Nothing
# waits that out; the pass is put off until the setting is 0 (the default; gone in 16).
_DEFERRED_CLEANUP = text(
    "SELECT 'setting vacuum_defer_cleanup_age = ' || setting FROM pg_settings"
    " WHERE name = 'vacuum_defer_cleanup_age' AND setting <> '0'"
)


def _wait_for_older_snapshots(connection: Connection, seconds: float) -> None:
    """Wait until no session may still see the rows as they were before the pass's rewrite
    (committed before this is called); OldSnapshots if some still may after ``seconds``.

    A row version is kept while any session's oldest snapshot (``backend_xmin``) or own
    transaction (``backend_xid``) is older than the transaction that replaced it; those are
    the sessions of this database, the WAL senders of standbys, prepared transactions and
    replication slots (_SESSIONS, _PREPARED, _SLOTS). The rewrite's id is below the first id
    not yet given out, read here once: a session is waited for while its oldest id is below
    that one (a few sessions that began just after the rewrite are waited for too: they are
    short).
    """
    horizon = int(connection.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")))
    deadline = time.monotonic() + seconds
    while True:
        # Each statement is a transaction of its own (autocommit): a new view of the sessions.
        holders = list(connection.scalars(_OLDER_SESSIONS, {"horizon": str(horizon % 2**32)}))
        if not holders:
            return
        if time.monotonic() >= deadline:
            raise OldSnapshots(holders)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


TABLES = (
    "reports",
    "report_messages",
    "report_envelopes",
    "report_readers",
    "report_exclusions",
    "cases",
    "inbox_entries",
    # Blobs kept in PostgreSQL (empty where the filesystem keeps them): their chunks' data,
    # stored apart (TOAST) and stored anew by _rewrite_rows (new value ids, in its random
    # order: CLUSTER keeps them), is copied into a new table in the order of the random keys.
    "blobs",
    "blob_chunks",
)


def _settle_database(engine: Engine, rebuild: bool, snapshot_wait: float) -> str:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "sqlite":
            return _settle_sqlite(connection, rebuild)
        if connection.dialect.name == "postgresql":
            return _settle_postgresql(connection, rebuild, snapshot_wait)
    return "database left as it is"


def _settle_sqlite(connection: Connection, rebuild: bool) -> str:
    said = []
    if rebuild:
        connection.exec_driver_sql("VACUUM")
        said.append("database rebuilt (VACUUM)")
    busy, _frames, _done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    said.append("write-ahead log emptied" if not busy else "write-ahead log busy: emptied later")
    return ", ".join(said)


def _settle_postgresql(connection: Connection, rebuild: bool, snapshot_wait: float) -> str:
    said = []
    if rebuild:
        _wait_for_older_snapshots(connection, snapshot_wait)
        # CLUSTER locks each table while it copies it (a few seconds at most for a year of
        # reports); past lock_timeout the pass fails and the next round does it again.
        connection.exec_driver_sql("SET lock_timeout = '10s'")
        names = inspect(connection)
        for table in TABLES:
            key = names.get_pk_constraint(table)["name"]
            connection.exec_driver_sql(f'CLUSTER {table} USING "{key}"')
        said.append("tables rewritten in key order (CLUSTER)")
    try:
        connection.exec_driver_sql("SELECT pg_switch_wal()")
        connection.exec_driver_sql("CHECKPOINT")
    except DBAPIError:
        said.append("WAL left to the server's checkpoints (no right to switch it: see docs)")
    else:
        said.append("WAL switched and checkpointed")
    return ", ".join(said)


def date_database_files(engine: Engine, stamp: int) -> None:
    """SQLite's files, and their folder, dated by the day again."""
    path = sqlite_file(engine.url)
    if path is None:
        return
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            os.utime(candidate, (stamp, stamp))
    os.utime(path.parent, (stamp, stamp))
