"""``portal jobs``: the registry of periodic work run once (a timer's command) and in the
background of ``portal run``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cli.jobs import run_jobs_periodically
from app.models import AuditEntry, Disclosure, PublicState, WorkState
from app.services import jobs
from app.services.jobs import Job
from tests.helpers.disclosures import schedule_due_item
from tests.helpers.retention import (
    PURGE_DAY,
    concluded_case,
    rows_of,
    verify_audit,
)

TITLE = "定时发布：二〇二六年上半年领导人员薪酬"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def state(db, disclosure_id: int) -> tuple[PublicState, WorkState]:
    with db() as session:
        disclosure = session.get(Disclosure, disclosure_id)
        return disclosure.public_state, disclosure.work_state


class Rounds:
    """A stop event that lets a loop go round ``count`` times without waiting."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        self.left -= 1
        return self.left < 0


def test_list_names_every_job(console_app):
    result = run(console_app, "jobs", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[0] == "publish"
    assert len(result.stdout.splitlines()) == len(jobs.JOBS)


@pytest.mark.parametrize("args", [(), ("publish",)])
def test_run_publishes_a_due_item_and_says_so(db, demo, console_app, public_app, args):
    item = schedule_due_item(db, title=TITLE)
    assert public_app.test_client().get(f"/disclosures/{item}").status_code == 404
    result = run(console_app, "jobs", "run", *args)
    assert result.exit_code == 0, result.output
    assert f"publish: published 1 scheduled disclosure: #{item} {TITLE}\n" in result.stdout
    assert state(db, item) == (PublicState.published, WorkState.none)
    page = public_app.test_client().get(f"/disclosures/{item}")
    assert page.status_code == 200 and TITLE in page.get_data(as_text=True)
    again = run(console_app, "jobs", "run", *args)
    lines = again.stdout.splitlines()
    assert again.exit_code == 0 and lines[0] == "publish: nothing was due"
    if args:
        assert len(lines) == 1
    else:  # the first run did the past days (the demo has no report); this one reads a file
        assert len(lines) == 6 and lines[1].startswith("reset-times: nothing to do: the days up to")
        assert lines[2].startswith("audit-checkpoint: ")
        assert lines[3] == "sessions: nothing had ended"
        assert lines[4].startswith("digest: ")
        assert lines[5] == "purge: no concluded case was due"


def test_run_refuses_an_unknown_job_with_status_2(db, demo, console_app):
    item = schedule_due_item(db, title=TITLE)
    for name in ("nosuch", "发布", ""):
        result = run(console_app, "jobs", "run", name)
        assert result.exit_code == 2, result.output
        assert f"no job named {name!r}" in result.stderr
        assert "publish" in result.stderr and "portal jobs list" in result.stderr
        assert "Traceback" not in result.stderr
    assert state(db, item)[1] == WorkState.scheduled  # nothing ran


def test_a_failing_job_makes_run_exit_1_after_the_others_ran(db, demo, console_app, monkeypatch):
    item = schedule_due_item(db, title=TITLE)

    def broken(_context):
        raise RuntimeError("the digest's mail server is away")

    monkeypatch.setattr(jobs, "JOBS", (Job("digest", "broken", broken), *jobs.JOBS))
    result = run(console_app, "jobs", "run")
    assert result.exit_code == 1
    assert "digest: failed (see the log)" in result.stderr
    assert f"publish: published 1 scheduled disclosure: #{item} {TITLE}" in result.stdout
    assert state(db, item)[0] == PublicState.published


def test_run_signs_a_checkpoint_of_the_audit_log_once_it_grew(db, demo, console_app):
    from app.models import StaffUser
    from app.services import audit

    with db() as session:
        auditor = session.query(StaffUser).filter_by(username="auditor").one()
        audit.record(session, audit.AuditAction.export, actor=auditor, detail="审计日志导出")
        size = audit.log_size(session)
    result = run(console_app, "jobs", "run", "audit-checkpoint")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"audit-checkpoint: signed a checkpoint of size {size}\n"
    again = run(console_app, "jobs", "run", "audit-checkpoint")
    assert again.stdout == f"audit-checkpoint: nothing new since the checkpoint of size {size}\n"
    result = run(console_app, "audit", "verify")
    assert result.exit_code == 0, result.output


def test_portal_run_s_periodic_runner_publishes_what_is_due(db, demo, console_app):
    item = schedule_due_item(db, title=TITLE)
    stopped = Rounds(1)
    run_jobs_periodically(console_app, stopped)
    assert state(db, item) == (PublicState.published, WorkState.none)
    # Scheduled items go out within a minute, as under the production timer.
    every = console_app.config["JOBS_EVERY_SECONDS"]
    assert stopped.timeouts == [every, every]
    assert every <= 60


def test_the_periodic_runner_runs_every_job_each_round_and_survives_a_failure(console_app):
    calls = []

    def broken(context):
        calls.append(("broken", context.today))
        raise RuntimeError("boom")

    def working(context):
        calls.append(("working", context.today))
        return "done"

    registry = (Job("broken", "", broken), Job("working", "", working))
    run_jobs_periodically(console_app, Rounds(3), every=7, registry=registry)
    assert [name for name, _today in calls] == ["broken", "working"] * 3
    assert all(today is not None for _name, today in calls)  # built in the app's context


def test_jobs_run_purges_a_case_once_its_retention_period_has_run_out(
    db, org, blobs, console_app, monkeypatch
):
    """Concluded today (the clock of the case's handling), then the clock moved on: the day
    before its fifth anniversary the job leaves it, on the day it purges it, once."""
    report_id, _code = concluded_case(db, org, blobs)
    monkeypatch.setattr("app.cli.jobs.today", lambda: PURGE_DAY - timedelta(days=1))
    result = run(console_app, "jobs", "run", "purge")
    assert result.exit_code == 0, result.output
    assert result.stdout == "purge: no concluded case was due\n"
    assert rows_of(db, report_id)["reports"] == 1

    monkeypatch.setattr("app.cli.jobs.today", lambda: PURGE_DAY)
    result = run(console_app, "jobs", "run", "purge")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "purge: purged 1 concluded case(s) under the retention rules, deleted 9 payload(s); "
    )
    assert set(rows_of(db, report_id).values()) == {0}
    with db() as session:
        purges = session.scalars(
            select(AuditEntry.case_id).where(AuditEntry.action == "purge")
        ).all()
    assert purges == [report_id, None]  # the case, then the run

    # By hand the next day: nothing left; the run is audited all the same.
    monkeypatch.setattr("app.cli.purge.today", lambda: PURGE_DAY + timedelta(days=1))
    result = run(console_app, "purge")
    assert result.exit_code == 0, result.output
    assert result.stdout == "no concluded case was due\n"
    with db() as session:
        runs = session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.action == "purge", AuditEntry.case_id.is_(None)
            )
        ).all()
    assert runs == ["retention purge: 1 case(s) purged", "retention purge: 0 case(s) purged"]
    verify_audit(db)
