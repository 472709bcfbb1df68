"""``portal run`` (local use: both apps on the development server), ``portal serve`` (gunicorn).

Starting and stopping the servers is ``app.serving``'s work; these commands choose what to serve.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import partial

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from app import migrate
from app.cli.demo import demo_logins_text, load_demo
from app.cli.jobs import run_jobs_periodically
from app.config import ConfigError
from app.db import database
from app.resources import audit_log_keys, disclosure_log_keys
from app.security import ratelimit
from app.services import audit
from app.services import demo as demo_service
from app.services.disclosures import log as disclosure_log


def log_key_problems() -> list[str]:
    """The signing keys of this machine that did not sign their log's stored checkpoints.

    Each machine of an installation signs with the key file in its own instance folder, made
    on first use: a machine started without a copy of the first one's would sign with a key
    of its own, and readers holding the log's key could no longer check what it signs.
    """
    keys = [
        ("PORTAL_LOG_KEY_FILE", "LOG_KEY_FILE", disclosure_log.LOG, disclosure_log_keys()),
        ("PORTAL_AUDIT_LOG_KEY_FILE", "AUDIT_LOG_KEY_FILE", audit.LOG, audit_log_keys()),
    ]
    problems = []
    with database().sessions() as session:
        try:
            for setting, name, log, log_keys in keys:
                if not log.signed_by(session, log_keys.signer.verifier, log_keys.origin):
                    problems.append(
                        f"{setting}: {current_app.config[name]} did not sign the checkpoints "
                        "stored in the database; every machine of an installation signs with "
                        "the same key: copy the key file of the machine that signed them"
                    )
        except SQLAlchemyError:  # no tables yet: nothing signed
            pass
    return problems


@click.command("run")
@click.option("--public", "public_bind", help="host:port of the public site.")
@click.option("--console", "console_bind", help="host:port of the console.")
@with_appcontext
def run_command(public_bind: str | None, console_bind: str | None) -> None:
    """Local use: migrate, add demo data to a new database, serve both apps until Ctrl-C."""
    from app.serving import development_servers, serve_until_stopped

    create_app = current_app.extensions["portal.factory"]
    engine = database().engine
    new = migrate.is_empty(engine)
    migrate.upgrade(engine)
    logins = load_demo() if new else None
    problems = log_key_problems()
    if problems:
        raise ConfigError(problems)
    config = current_app.config
    binds = {
        "public": public_bind or config["PUBLIC_BIND"],
        "console": console_bind or config["CONSOLE_BIND"],
    }

    # Binds given here are the apps' own (their host names are trusted Host headers).
    os.environ.update(PORTAL_PUBLIC_BIND=binds["public"], PORTAL_CONSOLE_BIND=binds["console"])
    # Rebuilt after the demo marker so that both apps show the demo banner.
    apps = {"public": create_app("public"), "console": create_app("console")}
    servers = development_servers(apps, binds)
    click.echo(f"Public site: http://{binds['public']}/")
    click.echo(f"Console:     http://{binds['console']}/")
    if logins:
        click.echo(demo_logins_text(logins))
    elif config["DEMO"]:
        click.echo(demo_logins_text(demo_service.DEMO_LOGINS))
    click.echo("Press Ctrl-C to stop.")
    # The periodic jobs (scheduled publication, ...) that a timer runs in production.
    serve_until_stopped(servers, [partial(run_jobs_periodically, apps["console"])])
    click.echo("Stopped.")


@click.command("serve")
@click.option("--public", "public_bind", help="host:port of the public site.")
@click.option("--console", "console_bind", help="host:port of the console.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes per app (more than 1 needs Redis for the rate limits).",
)
@click.option(
    "--jobs/--no-jobs",
    "run_jobs",
    default=True,
    show_default=True,
    help="Run the periodic jobs (portal jobs run) in the background.",
)
@with_appcontext
def serve_command(
    public_bind: str | None, console_bind: str | None, workers: int | None, run_jobs: bool
) -> None:
    """Production: gunicorn serving both apps until SIGTERM or Ctrl-C."""
    from app.serving import start_gunicorns, wait_for_gunicorns

    config = dict(current_app.config)
    if public_bind:
        config["PUBLIC_BIND"] = public_bind
    if console_bind:
        config["CONSOLE_BIND"] = console_bind
    if workers:
        config["WORKERS"] = workers
    problem = ratelimit.storage_problem(config, config["WORKERS"])
    if problem:
        raise ConfigError([problem])
    problems = log_key_problems()
    if problems:
        raise ConfigError(problems)
    procs = start_gunicorns(config, current_app.instance_path)
    click.echo(f"Serving public on {config['PUBLIC_BIND']}, console on {config['CONSOLE_BIND']}")
    stopped = threading.Event()
    if run_jobs:
        # The jobs are safe to run on several machines at once (each takes its work in a
        # transaction); --no-jobs leaves them to the timer (deploy/portal-jobs.timer).
        console_app = current_app._get_current_object()  # type: ignore[attr-defined]
        threading.Thread(
            target=run_jobs_periodically, args=(console_app, stopped), daemon=True
        ).start()
    status = wait_for_gunicorns(procs)
    stopped.set()
    sys.exit(status)
