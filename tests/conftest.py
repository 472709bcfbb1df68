"""Shared fixtures: instances on SQLite (always) and PostgreSQL/Redis (when configured).

What the fixtures are made of (instances, database copies, sign-in) is in tests/helpers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.services.demo import DEMO_LOGINS
from crypto import receipts
from tests.helpers.audit import AuditEntries
from tests.helpers.console import ConsoleAuth
from tests.helpers.environment import PG_URL, REDIS_URL, skip_or_fail
from tests.helpers.instances import Content, DatabaseCopies, Instance, wanted_content
from tests.helpers.reports import Org, blob_store, build_org
from tests.helpers.servers import Server, open_file_limit, portal_env


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own PORTAL_* settings must not change what the tests see.
    for name in list(os.environ):
        if name.startswith("PORTAL_") and not name.startswith("PORTAL_TEST_"):
            monkeypatch.delenv(name)
    # An app made with the defaults (a test of the configuration) sends receipt derivations
    # to processes of their own; every test starts with derivations in its own process.
    receipts.use_processes(0)


@pytest.fixture
def audit_entries(db) -> AuditEntries:
    """The audit entries recorded since the test asked for this fixture, read from the log
    each time they are looked at (tests/helpers/audit.py)."""
    return AuditEntries(db)


@pytest.fixture(scope="session")
def database_copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseCopies]:
    copies = DatabaseCopies(tmp_path_factory.mktemp("databases"))
    yield copies
    copies.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_instance(
    request: pytest.FixtureRequest, tmp_path: Path, database_copies: DatabaseCopies
) -> Iterator[Instance]:
    """An instance with an empty database (no tables) on each backend.

    When the test goes on to use ``instance`` or ``demo``, its database starts as a copy of
    the one those fixtures promise, made once for the session.
    """
    path = tmp_path / "instance"
    path.mkdir()
    content = wanted_content(request, "instance", "demo")
    if request.param == "sqlite":
        inst = database_copies.sqlite(content, path)
        yield inst
        drift = inst.inbox_drift()
        inst.close()
        assert not drift, f"inbox entries out of step with their tables: {drift[:4]}"
        return
    if not PG_URL:
        skip_or_fail("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL")
    inst, schema = database_copies.postgresql(content, path)
    try:
        yield inst
        drift = inst.inbox_drift()
        assert not drift, f"inbox entries out of step with their tables: {drift[:4]}"
    finally:
        inst.close()
        database_copies.drop(schema)


@pytest.fixture
def instance(empty_instance: Instance) -> Instance:
    """An instance whose schema exists (built from the models; migrations are tested apart)."""
    empty_instance.fill(Content.SCHEMA)
    return empty_instance


@pytest.fixture
def sqlite_instance(
    request: pytest.FixtureRequest, tmp_path: Path, database_copies: DatabaseCopies
) -> Iterator[Instance]:
    """A SQLite-only instance, for tests about the embedded default itself."""
    path = tmp_path / "instance"
    path.mkdir()
    inst = database_copies.sqlite(wanted_content(request, "sqlite_instance", "demo_sqlite"), path)
    yield inst
    drift = inst.inbox_drift()
    inst.close()
    assert not drift, f"inbox entries out of step with their tables: {drift[:4]}"


@pytest.fixture
def public_app(instance: Instance) -> Flask:
    return instance.app("public")


@pytest.fixture
def console_app(instance: Instance) -> Flask:
    return instance.app("console")


@pytest.fixture
def demo(instance: Instance, console_app: Flask) -> list:
    """The demo organisation in the instance's database; its logins."""
    instance.fill(Content.DEMO)
    return DEMO_LOGINS


@pytest.fixture
def demo_sqlite(sqlite_instance: Instance) -> list:
    sqlite_instance.fill(Content.DEMO)
    return DEMO_LOGINS


@pytest.fixture
def auth(console_app: Flask, demo: list) -> ConsoleAuth:
    return ConsoleAuth(console_app.test_client())


@pytest.fixture
def db(console_app):
    """A function returning a committing session context on the instance's database (services)."""

    @contextmanager
    def session() -> Iterator[Session]:
        with console_app.extensions["portal.db"].session() as s:
            yield s

    session.app = console_app
    return session


@pytest.fixture(scope="session")
def demo_portal_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``portal run`` on a new instance, as ``make run`` starts it: it builds the demo.

    Started once for the tests that read it (mark them ``xdist_group("portal_run")`` so one
    worker runs them all), with a low open-file limit so that a descriptor kept per request
    stops it. Its output is unbuffered, so a test reads what its own requests made it write.
    """
    folder = tmp_path_factory.mktemp("portal-run")
    env = portal_env(folder / "instance", PYTHONUNBUFFERED="1")
    server = Server.start("run", env, folder / "run.log", preexec_fn=open_file_limit(256))
    server.instance = folder / "instance"
    yield server
    assert server.stop() == 0, server.output


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests and browser tests first: the workers then end together on the quick ones."""
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in ("slow", "browser")))


@pytest.fixture
def org(db) -> Org:
    """The report tests' organisation (tests/helpers/reports.py) in the test's database."""
    with db() as session:
        return build_org(session)


@pytest.fixture
def blobs(db):
    return blob_store(db.app)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The tests' Redis database, empty before and after the test."""
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def one_clock_minute() -> None:
    """Start the test early in a clock minute: rate limits count in clock-aligned windows
    (app/security/ratelimit.py), and a test that counts up to a limit per minute must not
    see its window end halfway."""
    import time

    into = time.time() % 60
    if into > 40:
        time.sleep(60 - into + 0.05)
