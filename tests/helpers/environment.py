"""What the tests and the benchmarks share without importing the app: CI rules, databases.

A test that needs something this machine lacks (PostgreSQL, Redis, Chromium, the age tool)
skips on a laptop and fails under CI=true, where everything must run.
"""

from __future__ import annotations

import os
import secrets

import pytest
from sqlalchemy import create_engine, text

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")


def _one_redis_database_per_worker(url: str) -> str:
    """Parallel test workers (pytest-xdist's gw0, gw1, ...) each get their own Redis database,
    counting down from the configured one, so that one worker's flush never hits another's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    base, _, number = url.rpartition("/")
    if not url or not worker.startswith("gw") or not number.isdigit():
        return url
    return f"{base}/{int(number) - int(worker[2:])}"


REDIS_URL = _one_redis_database_per_worker(os.environ.get("PORTAL_TEST_REDIS_URL", ""))


def skip_or_fail(reason: str) -> None:
    """Skip with a one-line reason on a laptop; fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


def engine_url(url: str) -> str:
    """The URL for SQLAlchemy's create_engine: PostgreSQL through psycopg 3, as the app does."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def create_schema(base_url: str, schema: str | None = None) -> tuple[str, str]:
    """A new schema in the PostgreSQL database at ``base_url`` and a URL that works in it."""
    schema = schema or "t_" + secrets.token_hex(6)
    engine = create_engine(engine_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema_url(base_url, schema), schema


def schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with ``schema`` as the only schema on its search path."""
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(base_url: str, schema: str) -> None:
    engine = create_engine(engine_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
