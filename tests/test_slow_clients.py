"""Slow clients cannot stop the site: the pages answer and a report goes through while dozens
of clients send their uploads a byte every few seconds, their headers a byte at a time, or
nothing at all, straight to the server (``portal serve`` and ``portal run``)."""

from __future__ import annotations

import pytest

from tests.helpers.servers import Server, portal_env
from tests.helpers.slow_clients import NO_PAGE_LIMITS, Site, Trickle, under_attack

pytestmark = pytest.mark.slow


def _portal_serve(sqlite_instance, tmp_path) -> Server:
    env = portal_env(
        sqlite_instance.path,
        PORTAL_DATABASE_URL=sqlite_instance.database_url,
        PORTAL_WORKERS="1",
        PORTAL_BODY_GRACE_SECONDS="3",
        **NO_PAGE_LIMITS,
    )
    return Server.start("serve", env, tmp_path / "serve.log", "--no-jobs")


def _portal_run(tmp_path) -> Server:
    # A new instance: `portal run` builds the demo itself.
    env = portal_env(tmp_path / "run-instance", PORTAL_BODY_GRACE_SECONDS="3", **NO_PAGE_LIMITS)
    return Server.start("run", env, tmp_path / "run.log")


def test_portal_serve_answers_pages_and_takes_reports_while_many_clients_send_slowly(
    sqlite_instance, demo_sqlite, tmp_path
):
    trickle = _check_answers_under_attack(_portal_serve(sqlite_instance, tmp_path))
    # Each kind of slow client was cut off, and came back (heads get 10 seconds).
    assert trickle.reopened() == {"upload", "headers", "silent"}


def test_portal_run_answers_pages_and_takes_reports_while_many_clients_send_slowly(tmp_path):
    # The development server gives each connection a thread of its own: slow heads cost it a
    # thread each, but no page waits for them. Slow bodies are cut as with `portal serve`.
    trickle = _check_answers_under_attack(_portal_run(tmp_path))
    assert "upload" in trickle.reopened()


def _check_answers_under_attack(server: Server) -> Trickle:
    outcome = under_attack(Site(server.public_port), server.stop)
    slow = outcome.slow
    assert not slow, (
        f"{len(slow)} of {outcome.answered} page requests failed or were slow: {slow[:10]}"
    )
    assert outcome.codes, outcome.errors
    assert len(outcome.errors) <= 1, outcome.errors
    assert server.process.returncode == 0, server.output
    assert "Traceback" not in server.output, server.output[-3000:]
    return outcome.trickle
