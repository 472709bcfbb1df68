"""Database engine, declarative base and the per-request session."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlite_file(url: URL) -> Path | None:
    """The file of an SQLite database; None for another database, one in memory or a
    ``file:`` URI."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def _owner_only(path: Path | None) -> Any:
    """A connect listener that keeps the SQLite file readable by its owner alone (its -wal
    and -shm files take its mode): it holds password hashes, second-factor secrets and the
    routing of reports."""

    def chmod(_dbapi_connection: Any, _record: Any) -> None:
        if path is not None and path.exists() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)

    return chmod


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and enforced foreign keys on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _owner_only(sqlite_file(engine.url)))
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """The engine and session factory of one app.

    Each session's ``info["enterprise_zone"]`` is the enterprise's time zone (when the app
    gives one): services that date a row by the day (the audit trail) read the day there
    without reaching for the app.
    """

    def __init__(self, url: str, zone: tzinfo | None = None) -> None:
        self.engine = make_engine(url)
        info = {"enterprise_zone": zone} if zone is not None else {}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for work outside a request (CLI, tests); commits on success."""
        with self.sessions() as session, session.begin():
            yield session

    def open_early(self) -> None:
        """Open an SQLite database once, at start, if it exists: its -wal and -shm files are
        made by the first connection (and stay while the pool keeps it), and their birth
        times, which nothing can change, would otherwise be the moment of the first request,
        perhaps a report."""
        path = sqlite_file(self.engine.url)
        if path is None or not path.exists():
            return
        with contextlib.suppress(Exception), self.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM sqlite_master"))  # a read opens the log

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not reachable" to a load balancer
            return False
        return True


def init_app(app: Flask) -> None:
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    database = app.extensions["portal.db"] = Database(app.config["DATABASE_URL"], zone)
    database.open_early()
    app.teardown_appcontext(_close_session)


def database() -> Database:
    return current_app.extensions["portal.db"]


def get_session() -> Session:
    """The session of the current request, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
