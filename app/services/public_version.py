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
    here, in a free list behind a lock. A read takes one, or opens one when all are in use,
    and gives it back; no more than ``IDLE_CONNECTIONS`` wait in the list and the rest are
    closed, so what stays open is bounded by the reads at the same moment, never by the
    threads that ever read (the development server starts a thread per request).

    The connections read in autocommit mode (no snapshot is held between reads) and are
    closed when the engine is disposed; a connection that fails is closed and not reused.
    """

    IDLE_CONNECTIONS = 8

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._generation = 0  # counts disposals: a connection of an older one is closed
        event.listen(engine, "engine_disposed", self._close_all)

    def __call__(self) -> int:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
            generation = self._generation
        if connection is None:
            connection = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(_VERSION_SQL)
            rows = cursor.fetchall()
            cursor.close()
        except Exception:
            _close(connection)
            raise
        with self._lock:
            if generation == self._generation and len(self._idle) < self.IDLE_CONNECTIONS:
                self._idle.append(connection)
                connection = None
        if connection is not None:
            _close(connection)
        return rows[0][0] if rows else 0

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours until closed; the pool neither resets nor counts it
        if self.engine.dialect.name == "postgresql":
            connection.autocommit = True
        # SQLite's module opens no transaction for a SELECT: each read sees the latest commit.
        return connection

    def _close_all(self, _engine: Engine) -> None:
        with self._lock:
            connections, self._idle = self._idle, []
            self._generation += 1
        for connection in connections:
            _close(connection)


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
