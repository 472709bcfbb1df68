"""Shared fixtures: instances on SQLite (always) and PostgreSQL/Redis (when configured)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from app import create_app
from app.db import Base
from app.services import staff as staff_service
from app.services.demo import DEMO_LOGINS, load_demo

ROOT = Path(__file__).resolve().parents[1]
# Cheap password hashing for test accounts only; production uses staff.PASSWORD_METHOD.
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")


def skip_or_fail(reason: str) -> None:
    """Skip with a one-line reason on a laptop; fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own PORTAL_* settings must not change what the tests see.
    for name in list(os.environ):
        if name.startswith("PORTAL_") and not name.startswith("PORTAL_TEST_"):
            monkeypatch.delenv(name)


@dataclass
class Instance:
    """One portal installation: an instance folder and a database both apps share."""

    path: Path
    database_url: str
    backend: str
    apps: list[Flask] = field(default_factory=list)

    def app(self, surface: str, **overrides: Any) -> Flask:
        os.environ["PORTAL_INSTANCE_PATH"] = str(self.path)
        try:
            config = {"DATABASE_URL": self.database_url, "TESTING": True}
            config.update(overrides)
            app = create_app(surface, config)
        finally:
            del os.environ["PORTAL_INSTANCE_PATH"]
        self.apps.append(app)
        return app

    def close(self) -> None:
        for app in self.apps:
            app.extensions["portal.db"].engine.dispose()


def _postgres_schema_url(base_url: str) -> tuple[str, str]:
    schema = "t_" + secrets.token_hex(6)
    engine = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options=-csearch_path%3D{schema}", schema


def _drop_postgres_schema(base_url: str, schema: str) -> None:
    engine = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Instance]:
    """An instance with an empty database (no tables) on each backend."""
    path = tmp_path / "instance"
    path.mkdir()
    if request.param == "sqlite":
        inst = Instance(path, f"sqlite:///{path / 'portal.sqlite3'}", "sqlite")
        yield inst
        inst.close()
        return
    if not PG_URL:
        skip_or_fail("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL")
    url, schema = _postgres_schema_url(PG_URL)
    inst = Instance(path, url, "postgresql")
    try:
        yield inst
    finally:
        inst.close()
        _drop_postgres_schema(PG_URL, schema)


@pytest.fixture
def instance(empty_instance: Instance) -> Instance:
    """An instance whose schema exists (built from the models; migrations are tested apart)."""
    engine = create_engine(
        empty_instance.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    Base.metadata.create_all(engine)
    engine.dispose()
    return empty_instance


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[Instance]:
    """A SQLite-only instance, for tests about the embedded default itself."""
    path = tmp_path / "instance"
    path.mkdir()
    inst = Instance(path, f"sqlite:///{path / 'portal.sqlite3'}", "sqlite")
    engine = create_engine(inst.database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield inst
    inst.close()


@pytest.fixture
def public_app(instance: Instance) -> Flask:
    return instance.app("public")


@pytest.fixture
def console_app(instance: Instance) -> Flask:
    return instance.app("console")


@pytest.fixture
def demo(console_app: Flask) -> list:
    with console_app.extensions["portal.db"].session() as session:
        return load_demo(session, password_method=TEST_PASSWORD_METHOD)


class ConsoleAuth:
    """Signs a demo user in through the real login form."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def login(self, username: str = "admin", at: float | None = None) -> Any:
        login = next(login for login in DEMO_LOGINS if login.username == username)
        page = self.client.get("/login")
        token = csrf_token(page.get_data(as_text=True))
        return self.client.post(
            "/login",
            data={
                "csrf_token": token,
                "username": login.username,
                "password": login.password,
                "code": staff_service.totp_now(login.totp_secret, at),
            },
        )


def csrf_token(html: str) -> str:
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.find(marker)
    if start < 0:
        marker = 'name="csrf_token" value="'
        start = html.find(marker)
    assert start >= 0, "no CSRF token in the page"
    start += len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def auth(console_app: Flask, demo: list) -> ConsoleAuth:
    return ConsoleAuth(console_app.test_client())


def have_executable(name: str) -> str | None:
    return shutil.which(name)
