"""The periodic work of the portal: one registry of jobs, one way to run them.

``portal run`` and ``portal serve`` run them all in the background; where the apps run under
gunicorn alone, a timer does (``portal jobs run``, ``deploy/portal-jobs.timer``). A job is a
name, a description and a function that takes a :class:`JobContext` (what the app hands it)
and returns a line saying what it did. Adding one is a line in :data:`JOBS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from app.db import utcnow
from app.services import audit, digest, enrolment, sessions
from app.services.blobs import BlobStore
from app.services.disclosures import reviewing
from app.services.reports import day_reset, retention
from app.services.signed_log import LogKeys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What a job may use, built by the app for each job it runs.

    The session is in no transaction of the runner's: a job commits its own work (and
    whatever it has not committed when it fails is rolled back).
    """

    session: Session
    disclosure_log: LogKeys
    blobs: BlobStore
    today: date
    audit_log: LogKeys | None = None  # the console's and the portal command's only
    digest: digest.DigestSettings | None = None  # the console's and the portal command's only
    now: datetime | None = None  # the clock (tests set it); None: the time of the run
    retention_years: int = 5  # the default period of retention (RETENTION_YEARS)


@dataclass(frozen=True)
class Job:
    """A named piece of periodic work; ``run`` returns a line saying what it did."""

    name: str
    description: str
    run: Callable[[JobContext], str]


@dataclass(frozen=True)
class JobOutcome:
    """What one run of a job did: its own words, or ``failed`` (the error is logged)."""

    job: Job
    said: str
    failed: bool = False


class UnknownJob(LookupError):
    """No job has this name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"no job named {name!r} (the jobs: {', '.join(known)})")
        self.name = name


def publish_due_disclosures(context: JobContext) -> str:
    """Publish approved disclosures whose scheduled time has come; sign a checkpoint."""
    published = reviewing.publish_due_and_sign(context.session, context.disclosure_log)
    if not published:
        return "nothing was due"
    items = "; ".join(f"#{revision.disclosure_id} {revision.title}" for revision in published)
    noun = "disclosure" if len(published) == 1 else "disclosures"
    return f"published {len(published)} scheduled {noun}: {items}"


def reset_report_times(context: JobContext) -> str:
    """Leave no time finer than the day of the previous days' reports in the blob files, their
    folders and the database (once a day, by one server for all on PostgreSQL; later rounds of
    the day make one small read)."""
    try:
        return day_reset.reset_previous_days(context.session, context.blobs, context.today)
    except day_reset.ResetBusy:
        return "another run is resetting the days: left to it"
    except day_reset.OldSnapshots as held:
        log.warning("reset-times: %s", held)
        return f"{held}; nothing marked: the pass is done again at the next round"


def sign_audit_checkpoint(context: JobContext) -> str:
    """Sign a checkpoint of the audit log if entries were added since the last one."""
    if context.audit_log is None:
        return "this app holds no audit log key: nothing signed"
    keys = context.audit_log
    before = audit.latest_checkpoint(context.session)
    checkpoint = audit.sign_checkpoint(context.session, keys.signer, keys.origin, context.today)
    context.session.commit()
    if checkpoint is None:
        return "the audit log is empty"
    if before is not None and before.size == checkpoint.size:
        return f"nothing new since the checkpoint of size {checkpoint.size}"
    return f"signed a checkpoint of size {checkpoint.size}"


def remove_ended_sessions(context: JobContext) -> str:
    """Delete the rows of console sessions that have ended by time, and expired enrolment
    codes (an ended session opens nothing already: this only keeps the tables small)."""
    now = utcnow()
    ended = sessions.remove_expired(context.session, now)
    codes = enrolment.remove_expired(context.session, now)
    context.session.commit()
    if not ended and not codes:
        return "nothing had ended"
    return f"removed {ended} ended console session(s) and {codes} expired enrolment code(s)"


def send_daily_digest(context: JobContext) -> str:
    """At or after the digest hour: write each inspector's and office head's message of the
    day (once) and send those waiting (app/services/digest.py)."""
    if context.digest is None:
        return "this app has no digest settings: nothing sent"
    now = context.now or utcnow()
    return digest.run_digest(context.session, context.digest, now)


def purge_concluded_cases(context: JobContext) -> str:
    """Purge the concluded cases whose retention period has run out (once a day it finds
    some; the other rounds of the day find none)."""
    outcome = retention.purge(
        context.session, context.blobs, context.today, context.retention_years
    )
    return outcome.line


JOBS: tuple[Job, ...] = (
    Job(
        "publish",
        "Publish approved disclosures whose scheduled time has come; sign a checkpoint.",
        publish_due_disclosures,
    ),
    Job(
        "reset-times",
        "Rewrite the previous days' report files and rows so that no time finer than the day"
        " (change times, inode and row order) is left.",
        reset_report_times,
    ),
    Job(
        "audit-checkpoint",
        "Sign a checkpoint of the audit log if it grew since the last one.",
        sign_audit_checkpoint,
    ),
    Job(
        "sessions",
        "Remove console sessions that have ended by time and enrolment codes that have expired.",
        remove_ended_sessions,
    ),
    Job(
        "digest",
        "Once a day at the digest hour: each inspector's and office head's digest of what waits,"
        " by mail or in the console's outbox; retry those the mail server did not take.",
        send_daily_digest,
    ),
    Job(
        "purge",
        "Purge the concluded cases whose retention period has run out (crypto-shredding:"
        " every header, payload, message and note deleted; a statistics row stays).",
        purge_concluded_cases,
    ),
)


def select_jobs(name: str | None = None, jobs: Iterable[Job] = JOBS) -> list[Job]:
    """Every job of ``jobs``, or the one called ``name`` (:class:`UnknownJob` if none is)."""
    jobs = list(jobs)
    if name is None:
        return jobs
    for job in jobs:
        if job.name == name:
            return [job]
    raise UnknownJob(name, (job.name for job in jobs))


def run_jobs(
    jobs: Iterable[Job], context: Callable[[], AbstractContextManager[JobContext]]
) -> Iterator[JobOutcome]:
    """Run each job with a context of its own, yielding what it did as it finishes.

    A job that fails is logged and reported as failed; the next one still runs.
    """
    for job in jobs:
        try:
            with context() as job_context:
                said = job.run(job_context)
        except Exception:  # one job's failure must not stop the others, nor a loop calling us
            log.exception("job %s failed", job.name)
            yield JobOutcome(job, "failed (see the log)", failed=True)
        else:
            yield JobOutcome(job, said)
