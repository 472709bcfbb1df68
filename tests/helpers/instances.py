"""Portal instances for tests, on SQLite and PostgreSQL, and the databases copied for them."""

from __future__ import annotations

import enum
import os
import secrets
import shutil
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
from flask import Flask
from sqlalchemy import create_engine, event, inspect, literal, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app import create_app
from app.db import Base
from app.models.inbox import drift
from app.services.demo import load_demo
from tests.helpers.environment import PG_URL, engine_url, schema_url
from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS, TEST_SEAL_PARAMS

SQLITE_FILE = "portal.sqlite3"


class CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once for all the tests' apps of a surface, not once for each app."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = {surface: CompiledTemplates() for surface in ("public", "console")}


class Content(enum.IntEnum):
    """What a test's database holds when the test starts; each level adds to the one before."""

    EMPTY = 0  # no tables
    SCHEMA = 1  # the tables, built from the models (migrations are tested apart)
    DEMO = 2  # and the demo organisation, as ``load_demo`` makes it


@dataclass
class Instance:
    """One portal installation: an instance folder and a database both apps share."""

    path: Path
    database_url: str
    backend: str
    apps: list[Flask] = field(default_factory=list)
    content: Content = Content.EMPTY

    def app(self, surface: str, **overrides: Any) -> Flask:
        os.environ["PORTAL_INSTANCE_PATH"] = str(self.path)
        try:
            config = {
                "DATABASE_URL": self.database_url,
                "TESTING": True,
                "SEAL_PARAMS": TEST_SEAL_PARAMS,
                "RECEIPT_VERSIONS": TEST_RECEIPT_VERSIONS,
                "REPORT_KDF_PROCESSES": 0,  # cheap derivations, in the test's own process
                # A form without script counts at once (tests of the wait set it).
                "REPORT_NOSCRIPT_WAIT_MINUTES": 0,
            }
            config.update(overrides)
            app = create_app(surface, config)
        finally:
            del os.environ["PORTAL_INSTANCE_PATH"]
        app.jinja_env.bytecode_cache = COMPILED_TEMPLATES[surface]
        self.apps.append(app)
        return app

    def fill(self, content: Content) -> None:
        """Bring the database up to ``content`` the slow way: the schema, then the demo."""
        if self.content < Content.SCHEMA <= content:
            engine = create_engine(engine_url(self.database_url))
            Base.metadata.create_all(engine)
            engine.dispose()
        if self.content < Content.DEMO <= content:
            with self.app("console").extensions["portal.db"].session() as session:
                load_demo(session, seal_params=TEST_SEAL_PARAMS)
        self.content = max(self.content, content)

    def inbox_drift(self) -> list[tuple]:
        """The inbox's rows that differ from the tables they are kept from (app/models/inbox.py),
        after whatever the test did through the apps: any means a change the upkeep missed."""
        if not self.apps or self.content < Content.SCHEMA:
            return []
        with self.apps[0].extensions["portal.db"].session() as session:
            try:
                if not inspect(session.connection()).has_table("inbox_entries"):
                    return []
                return drift(session)
            except SQLAlchemyError:  # a test that broke the database on purpose
                return []

    def close(self) -> None:
        for app in self.apps:
            app.extensions["portal.db"].engine.dispose()


class DatabaseCopies:
    """Databases built once a session; each test starts from a copy of one.

    Building the schema and loading the demo organisation cost more than most tests do, so
    they happen once: on SQLite into a file that each test copies into its own instance
    folder; on PostgreSQL into a schema whose rows each test copies into a new schema of its
    own, made by the statements ``create_all`` ran for the first one. (A database per test,
    copied from a template database, writes megabytes of catalogs: slower on a busy machine.)
    A copy holds what building it anew would, and it is the test's alone: tests that commit
    from several threads or processes stay apart. The demo's dates count from the day it was
    loaded: a new day loads it anew.

    PostgreSQL's share is done by one thread on one connection, in the order asked: while a
    test runs, that thread drops the schema of the test before and makes the schema the next
    test of the same kind will get.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite_files: dict[tuple[Content, date], Path] = {}
        # For each day: the statements that make the schema, those that copy the demo.
        self.postgresql_scripts: dict[date, tuple[list[str], list[str]]] = {}
        self.schemas: set[str] = set()
        self._admin: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-schemas")
        self._next: dict[tuple[Content, date], Future[str]] = {}
        self._dropping: list[Future[None]] = []

    def sqlite(self, content: Content, path: Path) -> Instance:
        """An instance in ``path`` whose database is a copy of the one for ``content``."""
        inst = Instance(path, f"sqlite:///{path / SQLITE_FILE}", "sqlite", content=content)
        if content > Content.EMPTY:
            shutil.copyfile(self._sqlite_file(content), path / SQLITE_FILE)
        return inst

    def postgresql(self, content: Content, path: Path) -> tuple[Instance, str]:
        """An instance in a new schema that holds ``content``, and the schema's name."""
        statements: list[str] = []
        if content > Content.EMPTY:
            ddl, demo = self._postgresql_scripts()
            statements = ddl + demo if content == Content.DEMO else ddl
        key = (content, datetime.now(UTC).date())
        made = self._next.pop(key, None) or self._worker.submit(self._new_schema, statements)
        self._next[key] = self._worker.submit(self._new_schema, statements)
        schema = made.result()
        inst = Instance(path, schema_url(PG_URL, schema), "postgresql", content=content)
        return inst, schema

    def drop(self, schema: str) -> None:
        self._dropping.append(self._worker.submit(self._drop, schema))

    def close(self) -> None:
        self._worker.shutdown()  # once it has done what it was asked
        for schema in list(self.schemas):  # the demo's, and those made for tests to come
            self._drop(schema)
        if self._admin is not None:
            self._admin.close()
        for future in self._dropping:
            future.result()  # a schema that could not be dropped is an error of the session

    def _sqlite_file(self, content: Content) -> Path:
        key = (content, datetime.now(UTC).date())
        if key not in self.sqlite_files:
            folder = self.folder / f"sqlite-{content.name.lower()}-{key[1]}"
            folder.mkdir()
            file = folder / SQLITE_FILE
            inst = Instance(folder, f"sqlite:///{file}", "sqlite")
            inst.fill(content)
            inst.close()
            # Back to a rollback journal: everything in the one file, as create_all left it.
            with closing(sqlite3.connect(file)) as conn:
                mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            assert mode == "delete", f"{file} is still open somewhere"
            self.sqlite_files[key] = file
        return self.sqlite_files[key]

    def _postgresql_scripts(self) -> tuple[list[str], list[str]]:
        today = datetime.now(UTC).date()
        if today not in self.postgresql_scripts:
            self.postgresql_scripts[today] = self._load_postgresql_demo(today)
        return self.postgresql_scripts[today]

    def _load_postgresql_demo(self, today: date) -> tuple[list[str], list[str]]:
        """Load the demo into a schema kept for the session; the statements that copy it."""
        folder = self.folder / f"postgresql-demo-{today}"
        folder.mkdir()
        schema = self._worker.submit(self._new_schema, []).result()
        inst = Instance(folder, schema_url(PG_URL, schema), "postgresql")
        ddl: list[str] = []
        engine = create_engine(engine_url(inst.database_url))
        event.listen(engine, "before_cursor_execute", lambda *args: ddl.append(args[2]))
        Base.metadata.create_all(engine, checkfirst=False)
        engine.dispose()
        # Tables the schema fills as it makes them (the standard report categories): the
        # copy of the demo's rows replaces theirs.
        engine = create_engine(engine_url(inst.database_url))
        with engine.connect() as conn:
            seeded = [
                t.name
                for t in Base.metadata.sorted_tables
                if conn.execute(select(literal(1)).select_from(t).limit(1)).first()
            ]
        engine.dispose()
        inst.content = Content.SCHEMA
        inst.fill(Content.DEMO)
        inst.close()

        engine = create_engine(engine_url(PG_URL))
        with engine.connect() as conn:
            columns = conn.execute(COLUMNS, {"schema": schema}).all()
            sequences = conn.scalars(SEQUENCES, {"schema": schema}).all()
        engine.dispose()
        names: dict[str, list[str]] = {}
        for table, column in columns:
            names.setdefault(table, []).append(f'"{column}"')
        # Parents before children: foreign keys are checked as the rows go in. The search
        # table, made by hand and not a model, refers to disclosures only.
        tables = [t.name for t in Base.metadata.sorted_tables]
        tables += sorted(set(names) - set(tables))
        demo = [f'DELETE FROM "{table}"' for table in reversed(seeded)]
        for table in tables:
            listed = ", ".join(names[table])
            demo.append(
                f'INSERT INTO "{table}" ({listed}) SELECT {listed} FROM "{schema}"."{table}"'
            )
        for sequence in sequences:
            demo.append(
                f"SELECT setval('\"{sequence}\"', last_value, is_called)"
                f' FROM "{schema}"."{sequence}"'
            )
        return ddl, demo

    # On the worker thread (or once it has stopped): the connection is not shared.

    def _new_schema(self, statements: list[str]) -> str:
        """A new schema, and ``statements`` run in it: one transaction, one round trip."""
        schema = "t_" + secrets.token_hex(6)
        script = [f'CREATE SCHEMA "{schema}"', f'SET LOCAL search_path TO "{schema}"']
        self._admin_run(";\n".join(script + statements))
        self.schemas.add(schema)
        return schema

    def _drop(self, schema: str) -> None:
        self._admin_run(f'DROP SCHEMA "{schema}" CASCADE')
        self.schemas.discard(schema)

    def _admin_run(self, script: str) -> None:
        if self._admin is None:  # one connection for the session, kept open
            self._admin = create_engine(engine_url(PG_URL), poolclass=NullPool).raw_connection()
            self._admin.driver_connection.autocommit = True
        connection = self._admin.driver_connection
        with connection.transaction():
            connection.execute(script)


# Columns a copy fills in (generated ones compute themselves), and the sequences of ids.
COLUMNS = text(
    "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = :schema AND is_generated = 'NEVER' ORDER BY ordinal_position"
)
SEQUENCES = text(
    "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = :schema"
)


def wanted_content(request: pytest.FixtureRequest, schema: str, demo: str) -> Content:
    """What the test's database must hold before its first fixture runs."""
    if demo in request.fixturenames:
        return Content.DEMO
    if schema in request.fixturenames:
        return Content.SCHEMA
    return Content.EMPTY
