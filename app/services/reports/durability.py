"""Committing so that a receipt shown means a report that survives a power cut."""

from __future__ import annotations

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


def commit_durably(session: Session) -> None:
    """Commit, once sure the commit is synchronous (``prepare_durable_commit`` was called)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        if level is None or level < _FULL:
            raise RuntimeError("prepare_durable_commit was not called before writing")
    session.commit()
