"""``portal run`` (local use: both apps on the development server), ``portal serve`` (gunicorn)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import logging_setup, migrate
from app.cli import demo_logins_text, engine, load_demo
from app.config import ConfigError
from app.security import ratelimit
from app.services import demo as demo_service


def init_app(app: Flask, factory: Callable[[str], Flask]) -> None:
    """Add the commands; ``factory`` builds an app by surface (``portal run`` starts both)."""
    app.extensions["portal.factory"] = factory
    app.cli.add_command(run_command)
    app.cli.add_command(serve_command)


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


@click.command("run")
@click.option("--public", "public_bind", help="host:port of the public site.")
@click.option("--console", "console_bind", help="host:port of the console.")
@with_appcontext
def run_command(public_bind: str | None, console_bind: str | None) -> None:
    """Local use: migrate, add demo data to a new database, serve both apps until Ctrl-C."""
    from app.devserver import development_server

    create_app = current_app.extensions["portal.factory"]
    database = engine()
    new = migrate.is_empty(database)
    migrate.upgrade(database)
    logins = load_demo() if new else None
    config = current_app.config
    public_bind = public_bind or config["PUBLIC_BIND"]
    console_bind = console_bind or config["CONSOLE_BIND"]

    # Binds given here are the apps' own (their host names are trusted Host headers).
    os.environ.update(PORTAL_PUBLIC_BIND=public_bind, PORTAL_CONSOLE_BIND=console_bind)
    # Rebuilt after the demo marker so that both apps show the demo banner.
    apps = {"public": create_app("public"), "console": create_app("console")}
    servers = []
    for surface, bind in (("public", public_bind), ("console", console_bind)):
        host, port = _split_bind(bind)
        server = development_server(host, port, apps[surface], _handler(surface))
        if surface == "public":
            logging_setup.quiet_development_server(server)
        servers.append(server)
    click.echo(f"Public site: http://{public_bind}/")
    click.echo(f"Console:     http://{console_bind}/")
    if logins:
        click.echo(demo_logins_text(logins))
    elif config["DEMO"]:
        click.echo(demo_logins_text(demo_service.DEMO_LOGINS))
    click.echo("Press Ctrl-C to stop.")
    stopped = threading.Event()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    threads.append(
        threading.Thread(target=_publish_scheduled, args=(apps["console"], stopped), daemon=True)
    )
    for thread in threads:
        thread.start()
    signal.signal(signal.SIGTERM, lambda *_args: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
        click.echo("Stopped.")


def _publish_scheduled(console_app: Flask, stopped: threading.Event) -> None:
    """What a timer running ``portal disclosures publish-due`` does in production."""
    from app.db import get_session
    from app.web import runtime

    while not stopped.wait(PUBLISH_DUE_EVERY_SECONDS):
        with console_app.app_context():
            try:
                runtime.publish_due(get_session())
            except Exception:  # keep the loop alive; the next round tries again
                logging.getLogger("portal.scheduler").exception("publishing scheduled items failed")


PUBLISH_DUE_EVERY_SECONDS = 30


def _handler(surface: str):
    from app.devserver import ClosingRequestHandler

    return logging_setup.public_request_handler() if surface == "public" else ClosingRequestHandler


# Public access log: no client address, no user agent, no time (a line's time is a trace too).
PUBLIC_ACCESS_LOG_FORMAT = logging_setup.PUBLIC_ACCESS_LOG_FORMAT


def gunicorn_command(surface: str, config) -> list[str]:
    """The gunicorn command line for one surface, as ``portal serve`` runs it."""
    bind = config[f"{surface.upper()}_BIND"]
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(config["WORKERS"]),
        "--worker-class",
        "gthread",
        "--threads",
        str(config["THREADS"]),
        "--error-logfile",
        "-",
        # No control socket: the two apps' servers would share one (~/.gunicorn/gunicorn.ctl),
        # and it can change the number of workers past the rate-limit check of `portal serve`.
        "--no-control-socket",
        # Hooks: no more workers at run time while rate limits are counted in memory.
        "--config",
        "python:app.gunicorn_hooks",
        "--forwarded-allow-ips",
        ",".join(str(n) for n in config["TRUSTED_PROXIES"]) or "127.0.0.1",
    ]
    if surface == "public":
        # Its error log dated by the day, without request lines, headers or addresses.
        cmd += ["--logger-class", "app.logging_setup.PublicServerLog"]
    else:
        # Complete logs, each field on one line (control characters escaped).
        cmd += ["--logger-class", "app.logging_setup.ServerLog"]
    access_log = config[f"{surface.upper()}_ACCESS_LOG"]
    if access_log:
        cmd += ["--access-logfile", access_log]
        if surface == "public":
            cmd += ["--access-logformat", PUBLIC_ACCESS_LOG_FORMAT]
    cmd.append(f"app:create_app({surface!r})")
    return cmd


@click.command("serve")
@click.option("--public", "public_bind", help="host:port of the public site.")
@click.option("--console", "console_bind", help="host:port of the console.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes per app (more than 1 needs Redis for the rate limits).",
)
@with_appcontext
def serve_command(public_bind: str | None, console_bind: str | None, workers: int | None) -> None:
    """Production: gunicorn serving both apps until SIGTERM or Ctrl-C."""
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
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=current_app.instance_path,
        PORTAL_PUBLIC_BIND=config["PUBLIC_BIND"],
        PORTAL_CONSOLE_BIND=config["CONSOLE_BIND"],
    )
    procs = [
        subprocess.Popen(gunicorn_command(s, config), env=env)  # noqa: S603 (our own argv)
        for s in ("public", "console")
    ]
    click.echo(f"Serving public on {config['PUBLIC_BIND']}, console on {config['CONSOLE_BIND']}")

    def stop(*_args) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=0.5)
    finally:
        stop()
        for proc in procs:
            proc.wait()
    codes = [proc.returncode for proc in procs]
    sys.exit(0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1)
