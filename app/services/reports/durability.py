"""Committing so that a receipt shown means a report that survives a power cut."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def prepare_durable_commit(session: Session) -> None:
    """Make the session's coming commit synchronous; call it before the transaction writes.

    SQLite runs in WAL mode with ``synchronous=NORMAL`` (app/db.py): a commit may be lost in
    a power cut until the next checkpoint. SQLite only changes the setting outside a write
    transaction, so it is set here, first: ``synchronous=FULL`` syncs the WAL at the commit
    (and with it every commit before). It stays on the pooled connection afterwards, which
    only makes that connection's later commits durable too. PostgreSQL: the commit is made
    synchronous for this transaction whatever the server's ``synchronous_commit`` says.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("PRAGMA synchronous=FULL")
    elif dialect == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO on")


def commit_durably(session: Session, day_start: int) -> None:
    """Commit, once sure the commit is synchronous (``prepare_durable_commit`` was called).

    On SQLite the database files' times are then set to ``day_start`` (the start of the
    report's day, ``BlobStore.day_start``): their modification time would otherwise date the
    report to the second. (Their change time, ctime, cannot be set from user space: the daily
    pass, day_reset.py, leaves the pass's own there.)
    """
    connection = session.connection()
    database = None
    if connection.dialect.name == "sqlite":
        level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        if level is None or level < _FULL:
            raise RuntimeError("prepare_durable_commit was not called before writing")
        database = connection.engine.url.database
    session.commit()
    if database and database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.exists():
                os.utime(path, (day_start, day_start))
