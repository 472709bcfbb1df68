"""A counter of changes to what the public site shows, for caches in every process.

Public pages depend on disclosures and their revisions, attachments, answered questions,
categories, the catalogue, units, log checkpoints and the names of report categories (on
/stats). Any flush that adds, changes or deletes one of those rows bumps the single
``public_versions`` row in the same transaction, so the new count becomes visible to other
processes exactly when the change does. Watching the flush rather than calling ``bump`` from
each service covers every writer (services, console views, CLI, imports) without a list to
keep up to date. Drafts that were never published and new questions waiting for an answer are
left out: no public page shows them.

A cache stores a value together with the version read *before* computing it. The value is
then at least as new as that version, and no reader sees an older value once the newer
version is visible.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction

from app.models import (
    CatalogueEntry,
    Disclosure,
    DisclosureAttachment,
    DisclosureCategory,
    DisclosureQuestion,
    DisclosureRevision,
    LogCheckpoint,
    PublicState,
    PublicVersion,
    QuestionState,
    ReportCategoryEntry,
    Unit,
)

ROW_ID = 1
PUBLIC_MODELS = (
    CatalogueEntry,
    Disclosure,
    DisclosureAttachment,
    DisclosureCategory,
    DisclosureQuestion,
    DisclosureRevision,
    LogCheckpoint,
    ReportCategoryEntry,  # named on /stats
    Unit,
)
_BUMPED = "portal.public_version_bumped"
_VERSION = select(PublicVersion.version).where(PublicVersion.id == ROW_ID)
_VERSION_SQL = "SELECT version FROM public_versions WHERE id = 1"  # ROW_ID


def current(session: Session) -> int:
    """The version of the public record as this session's transaction sees it."""
    return session.scalar(_VERSION) or 0


class LatestVersion:
    """Reads the latest committed version on a few connections shared by all threads.

    Checking a connection out of the engine's pool and resetting it afterwards costs several
    times the query itself, and a cached page costs little else; so the connections are kept
    here, in a free list behind a lock. A read takes one, or opens one while fewer than
    ``CONNECTIONS`` are open, or else waits for one to be given back (a read takes a fraction
    of a millisecond; opening a PostgreSQL connection starts a server process, tens to
    hundreds of milliseconds on a busy machine, which was the slowest of a hundred cached
    pages when more threads read at once than connections were kept). What stays open is
    bounded by ``CONNECTIONS``, never by the threads that ever read (the development server
    starts a thread per request).

    The connections read in autocommit mode (no snapshot is held between reads) and are
    closed when the engine is disposed; a connection that fails is closed and not reused.
    """

    CONNECTIONS = 4

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._available = threading.Condition(threading.Lock())
        self._idle: list[Any] = []
        self._open = 0  # of this generation: idle, in use, or being opened
        self._generation = 0  # counts disposals: a connection of an older one is closed
        self._reading = threading.Lock()  # held by the thread whose read is on the wire
        self._gathering: _SharedRead | None = None  # the next read, open to newcomers
        event.listen(engine, "engine_disposed", self._close_all)

    def __call__(self) -> int:
        """The version as committed when this call began, or later.

        Threads that call while a read is on the wire share the next one: it is sent once
        that read is back, after every thread sharing it had called, so each gets a version
        at least as new as the one committed when it called. Under load the database then
        sees one read at a time, whatever the number of threads: every round trip is a
        thread waking up again, and on a busy machine that was the slowest of a hundred
        cached pages on PostgreSQL, several times a bare page's.
        """
        with self._available:
            shared = self._gathering
            first = shared is None
            if first:
                shared = self._gathering = _SharedRead()
        if not first:
            shared.done.wait()
            if shared.error is not None:
                raise shared.error
            return shared.version
        with self._reading:
            with self._available:
                self._gathering = None  # later callers share the read after this one
            try:
                shared.version = self._read()
            except Exception as exc:
                shared.error = exc
                raise
            finally:
                shared.done.set()
        return shared.version

    def _read(self) -> int:
        with self._available:
            while not self._idle and self._open >= self.CONNECTIONS:
                self._available.wait()
            connection = self._idle.pop() if self._idle else None
            if connection is None:
                self._open += 1  # taken now, opened below outside the lock
            generation = self._generation
        try:
            if connection is None:
                connection = self._connect()
            cursor = connection.cursor()
            cursor.execute(_VERSION_SQL)
            rows = cursor.fetchall()
            cursor.close()
        except Exception:
            if connection is not None:
                _close(connection)
            self._give_back(None, generation)
            raise
        self._give_back(connection, generation)
        return rows[0][0] if rows else 0

    def _give_back(self, connection: Any, generation: int) -> None:
        """Back to the free list; None for one that failed (or never opened): one fewer open."""
        with self._available:
            if generation == self._generation:
                if connection is None:
                    self._open -= 1
                else:
                    self._idle.append(connection)
                    connection = None
            self._available.notify()
        if connection is not None:  # of an engine since disposed
            _close(connection)

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours until closed; the pool neither resets nor counts it
        if self.engine.dialect.name == "postgresql":
            connection.autocommit = True
        # SQLite's module opens no transaction for a SELECT: each read sees the latest commit.
        return connection

    def _close_all(self, _engine: Engine) -> None:
        with self._available:
            connections, self._idle = self._idle, []
            self._generation += 1
            self._open = 0
            self._available.notify_all()
        for connection in connections:
            _close(connection)


class _SharedRead:
    """One read of the version, waited for by the threads that share it."""

    __slots__ = ("done", "error", "version")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.version = 0
        self.error: BaseException | None = None


def _close(connection: Any) -> None:
    with contextlib.suppress(Exception):
        connection.close()


def bump(session: Session) -> None:
    """Count a change of public content, once per (sub)transaction that makes one."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None and session.info.get(_BUMPED) is transaction:
        return
    table = PublicVersion.__table__
    connection = session.connection()
    result = connection.execute(
        update(table).where(table.c.id == ROW_ID).values(version=table.c.version + 1)
    )
    if result.rowcount == 0:  # a database built without the migrations
        connection.execute(table.insert().values(id=ROW_ID, version=1))
    session.info[_BUMPED] = transaction


def _shows_publicly(obj: Any, is_new: bool) -> bool:
    if isinstance(obj, Disclosure):
        # An item that is not published and was not just unpublished is on no public page.
        state = inspect(obj).attrs.public_state.history
        shown = obj.public_state not in (None, PublicState.unpublished)  # None: default
        return shown or bool(state.deleted)
    if isinstance(obj, DisclosureQuestion) and is_new:
        return obj.state not in (None, QuestionState.pending)
    return isinstance(obj, PUBLIC_MODELS)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    changed = (
        any(_shows_publicly(obj, True) for obj in session.new)
        or any(_shows_publicly(obj, False) for obj in session.deleted)
        or any(
            _shows_publicly(obj, False) and session.is_modified(obj, include_collections=False)
            for obj in session.dirty
        )
    )
    if changed:
        bump(session)


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the next transaction counts anew; after a rollback the bump is gone.
    if session.info.get(_BUMPED) is transaction:
        del session.info[_BUMPED]


def watch() -> None:
    """Bump the version on every flush that changes public content (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_transaction_end", _transaction_ended)
