"""``portal jobs ...``: the periodic work of ``app.services.jobs``, run by a timer
(``deploy/portal-jobs.timer``) or in the background of ``portal run`` and ``portal serve``."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.db import database
from app.i18n import today
from app.resources import (
    audit_log_keys,
    blob_store,
    digest_settings,
    disclosure_log_keys,
    work_calendar,
)
from app.services import jobs


@contextmanager
def job_context() -> Iterator[jobs.JobContext]:
    """What the current app hands a job: a session of its own and the app's resources."""
    with database().sessions() as session:
        yield jobs.JobContext(
            session=session,
            disclosure_log=disclosure_log_keys(),
            blobs=blob_store().bound(session),
            today=today(),
            audit_log=audit_log_keys(),
            # The days due soon count on the calendar with the years kept in the database.
            digest=dataclasses.replace(digest_settings(), calendar=work_calendar(session)),
            retention_years=current_app.config["RETENTION_YEARS"],
        )


def run_jobs_periodically(
    console_app: Flask,
    stopped: threading.Event,
    every: float | None = None,
    registry: Iterable[jobs.Job] = jobs.JOBS,
) -> None:
    """The background thread of ``portal run`` and ``portal serve``: every job of the registry,
    every ``every`` seconds (``JOBS_EVERY_SECONDS``: scheduled items go out within a minute, as
    with the timer), until ``stopped``. A job that fails is logged; the next round tries again."""
    every = every or console_app.config["JOBS_EVERY_SECONDS"]
    while not stopped.wait(every):
        with console_app.app_context():
            for _outcome in jobs.run_jobs(registry, job_context):
                pass


@click.group(
    "jobs",
    help="Periodic work: scheduled publication, the daily reset of report times (portal run and"
    " portal serve run them too).",
)
def jobs_group() -> None:
    pass


@jobs_group.command("list")
def jobs_list() -> None:
    """List the jobs (what portal jobs run runs), each with what it does."""
    for job in jobs.JOBS:
        click.echo(f"{job.name:<16} {job.description}")


@jobs_group.command("run")
@click.argument("name", required=False)
@with_appcontext
def jobs_run(name: str | None) -> None:
    """Run every job, or only the one called NAME, and say what each did.

    The exit status is 1 if a job failed (its error is logged), 2 if there is no job NAME.
    """
    try:
        selected = jobs.select_jobs(name, jobs.JOBS)
    except jobs.UnknownJob as exc:
        raise click.BadParameter(f"{exc}; see: portal jobs list", param_hint="NAME") from None
    failed = False
    for outcome in jobs.run_jobs(selected, job_context):
        failed |= outcome.failed
        click.echo(f"{outcome.job.name}: {outcome.said}", err=outcome.failed)
    if failed:
        sys.exit(1)
