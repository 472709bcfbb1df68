"""A counter of changes to what the public site shows, for caches in every process.

Public pages depend on disclosures and their revisions, attachments, answered questions,
categories, the catalogue, units and log checkpoints. Any flush that adds, changes or
deletes one of those rows bumps the single ``public_versions`` row in the same
transaction, so the new count becomes visible to other processes exactly when the change
does. Watching the flush rather than calling ``bump`` from each service covers every
writer (services, console views, CLI, imports) without a list to keep up to date. Drafts
that were never published and new questions waiting for an answer are left out: no public
page shows them.

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
    Unit,
)
_BUMPED = "portal.public_version_bumped"
_VERSION = select(PublicVersion.version).where(PublicVersion.id == ROW_ID)
_VERSION_SQL = "SELECT version FROM public_versions WHERE id = 1"  # ROW_ID


def current(session: Session) -> int:
    """The version of the public record as this session's transaction sees it."""
    return session.scalar(_VERSION) or 0


class LatestVersion:
    """Reads the latest committed version on one connection per thread, kept open.

    Checking a connection out of the pool and resetting it afterwards costs several times
    the query itself, and a cached page costs little else. The connections read in
    autocommit mode (no snapshot is held between reads) and are closed when the engine is
    disposed; a connection that fails is dropped and the next read opens another.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []
        event.listen(engine, "engine_disposed", self._close_all)

    def __call__(self) -> int:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(_VERSION_SQL)
            rows = cursor.fetchall()
            cursor.close()
        except Exception:
            self._local.connection = None
            self._forget(connection)
            raise
        return rows[0][0] if rows else 0

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours until closed; the pool neither resets nor counts it
        if self.engine.dialect.name == "postgresql":
            connection.autocommit = True
        # SQLite's module opens no transaction for a SELECT: each read sees the latest commit.
        with self._lock:
            self._open.append(connection)
        self._local.connection = connection
        return connection

    def _forget(self, connection: Any) -> None:
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        with contextlib.suppress(Exception):
            connection.close()

    def _close_all(self, _engine: Engine) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()
        self._local = threading.local()


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
