"""The ``portal`` command (also ``flask --app wsgi:console``): one module per group of commands.

``db`` (and ``init``), ``user`` (staff), ``keys``, ``reports``, ``log``, ``audit``,
``disclosures``, ``demo``, ``jobs``, ``purge``, ``blobs``, and ``serve`` (``run`` and ``serve``).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from app.cli import (
    audit,
    blobs,
    db,
    demo,
    disclosures,
    jobs,
    keys,
    log,
    purge,
    reports,
    serve,
    staff,
)


def init_app(app: Flask, factory: Callable[[str], Flask]) -> None:
    """Add every command; ``factory`` builds an app by surface (``portal run`` starts both)."""
    app.extensions["portal.factory"] = factory
    for command in (
        db.init_command,
        db.db_group,
        staff.user_group,
        keys.keys_group,
        reports.reports_group,
        blobs.blobs_group,
        purge.purge_command,
        log.log_group,
        audit.audit_group,
        disclosures.disclosures_group,
        demo.demo_command,
        jobs.jobs_group,
        serve.run_command,
        serve.serve_command,
    ):
        app.cli.add_command(command)
