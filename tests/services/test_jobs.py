"""The registry of periodic jobs: what it holds, choosing jobs, running them one by one."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import pytest

from app.models import Disclosure, PublicState, WorkState
from app.services import jobs
from app.services.disclosures import log as disclosure_log
from app.services.jobs import Job, JobContext
from tests.helpers.disclosures import schedule_due_item


def context_of(app):
    """The context factory a command builds: a fresh session per job, the app's resources."""
    database = app.extensions["portal.db"]

    @contextmanager
    def context():
        with database.sessions() as session:
            yield JobContext(
                session=session,
                disclosure_log=app.extensions["portal.disclosure_log"],
                blobs=app.extensions["portal.blobs"],
                today=date(2026, 5, 1),
            )

    return context


def test_the_registry_holds_publish_and_names_are_unique():
    names = [job.name for job in jobs.JOBS]
    assert "publish" in names
    assert len(names) == len(set(names))
    assert all(job.description for job in jobs.JOBS)


def test_select_jobs_gives_all_one_or_refuses_an_unknown_name():
    first = Job("甲", "first", lambda _context: "")
    second = Job("b", "second", lambda _context: "")
    assert jobs.select_jobs(None, [first, second]) == [first, second]
    assert jobs.select_jobs("甲", [first, second]) == [first]
    with pytest.raises(jobs.UnknownJob, match=r"no job named 'nosuch' \(the jobs: 甲, b\)"):
        jobs.select_jobs("nosuch", [first, second])
    with pytest.raises(jobs.UnknownJob):
        jobs.select_jobs("", [first, second])


def test_a_failing_job_is_reported_and_the_next_one_still_runs(caplog):
    ran = []

    def broken(_context):
        raise RuntimeError("boom")

    def working(context):
        ran.append(context)
        return "did its work: 已完成"

    @contextmanager
    def context():
        yield "the context"

    outcomes = list(
        jobs.run_jobs([Job("broken", "", broken), Job("working", "", working)], context)
    )
    assert [(o.job.name, o.failed) for o in outcomes] == [("broken", True), ("working", False)]
    assert outcomes[1].said == "did its work: 已完成"
    assert ran == ["the context"]
    assert "job broken failed" in caplog.text and "boom" in caplog.text


def test_publish_job_publishes_what_is_due_and_signs_a_checkpoint(db, demo, console_app):
    item = schedule_due_item(db, title="定时发布：二〇二六年上半年业务招待费")
    [publish] = jobs.select_jobs("publish")
    [outcome] = jobs.run_jobs([publish], context_of(console_app))
    assert not outcome.failed
    assert outcome.said == (
        f"published 1 scheduled disclosure: #{item} 定时发布：二〇二六年上半年业务招待费"
    )
    with db() as session:
        disclosure = session.get(Disclosure, item)
        assert disclosure.public_state == PublicState.published
        assert disclosure.work_state == WorkState.none
        # A signed checkpoint covers the new leaf.
        assert disclosure_log.latest_checkpoint(session).size == disclosure_log.log_size(session)
    [again] = jobs.run_jobs([publish], context_of(console_app))
    assert again.said == "nothing was due"
