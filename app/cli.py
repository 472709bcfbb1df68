"""The ``portal`` command (also ``flask --app wsgi:console ...``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import logging_setup, migrate
from app.config import ConfigError
from app.db import database
from app.disclosures import cli as disclosures_cli
from app.models import Role
from app.resources import blob_store
from app.security import ratelimit
from app.services import demo as demo_service
from app.services import staff as staff_service
from app.services import units


def init_app(app: Flask, factory: Callable[[str], Flask]) -> None:
    """Add the commands; ``factory`` builds an app by surface (``portal run`` starts both)."""
    app.extensions["portal.factory"] = factory
    for command in (init_command, demo_command, run_command, serve_command, db_group, user_group):
        app.cli.add_command(command)
    disclosures_cli.init_app(app)


def _engine():
    return database().engine


# --- database -------------------------------------------------------------------------------


@click.group("db", help="Database schema migrations.")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head), from empty if needed."""
    migrate.upgrade(_engine(), revision)
    click.echo(f"Database at {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    migrate.downgrade(_engine(), revision)
    click.echo(f"Database at {revision}.")


# --- init and demo --------------------------------------------------------------------------


@click.command("init")
@click.option("--admin", "admin_username", help="Username of the first administrator.")
@click.option("--name", "admin_name", help="Display name of the first administrator.")
@click.option(
    "--password", envvar="PORTAL_ADMIN_PASSWORD", help="Password (or PORTAL_ADMIN_PASSWORD)."
)
@with_appcontext
def init_command(admin_username: str | None, admin_name: str | None, password: str | None) -> None:
    """Create or upgrade the database and add the first administrator."""
    migrate.upgrade(_engine())
    click.echo("Database is at the latest schema.")
    disclosures_cli.prepare_disclosures()
    with database().session() as session:
        if demo_service.has_staff(session):
            click.echo("Staff accounts exist already; add more with: portal user add")
            return
        interactive = sys.stdin.isatty()
        if not admin_username:
            if not interactive:
                raise click.UsageError("give --admin USERNAME (no terminal to ask on)")
            admin_username = click.prompt("Administrator username", default="admin")
        if not password:
            if not interactive:
                raise click.UsageError("give --password or PORTAL_ADMIN_PASSWORD")
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = staff_service.create_user(
                session, admin_username, admin_name or admin_username, password, [Role.admin]
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        _print_enrolment(user.username, user.totp_secret)


def _print_enrolment(username: str, secret: str) -> None:
    click.echo(f"Created {username}. Add this TOTP secret to an authenticator app: {secret}")


def _demo_logins_text(logins: list[demo_service.DemoLogin]) -> str:
    lines = ["Demo logins (console; password, TOTP secret, roles):"]
    for login in logins:
        roles = ",".join(role.value for role in login.roles)
        lines.append(f"  {login.username:<14} {login.password:<20} {login.totp_secret}  {roles}")
    lines.append("  The 6-digit code: any TOTP app, or: portal user code USERNAME")
    return "\n".join(lines)


def _mark_demo(instance_path: str) -> None:
    """Record in config.toml that this is a demo instance, so every page shows a banner."""
    config_file = Path(instance_path) / "config.toml"
    text = config_file.read_text() if config_file.exists() else ""
    if "demo" not in text.lower():
        with config_file.open("a") as fh:
            fh.write(
                "# Written by `portal demo`: show the demo banner on every page.\ndemo = true\n"
            )


def _load_demo() -> list[demo_service.DemoLogin]:
    with database().session() as session:
        try:
            logins = demo_service.load_demo(session, blobs=blob_store())
        except demo_service.DemoError as exc:
            raise click.ClickException(str(exc)) from None
    disclosures_cli.prepare_disclosures()
    _mark_demo(current_app.instance_path)
    return logins


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Fill a new database with a demo organisation and demo staff."""
    migrate.upgrade(_engine())
    click.echo(_demo_logins_text(_load_demo()))


# --- users ----------------------------------------------------------------------------------


@click.group("user", help="Staff accounts.")
def user_group() -> None:
    pass


@user_group.command("add")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Role (repeatable).",
)
@click.option("--unit", "unit_code", help="Code of the user's unit.")
@click.option(
    "--office", "office_unit_code", help="Unit code of the discipline office (inspectors)."
)
@click.option(
    "--password", envvar="PORTAL_USER_PASSWORD", help="Password (or PORTAL_USER_PASSWORD)."
)
@with_appcontext
def user_add(username, display_name, roles, unit_code, office_unit_code, password) -> None:
    """Add a staff account and print its TOTP secret."""
    if not password:
        if not sys.stdin.isatty():
            raise click.UsageError("give --password or PORTAL_USER_PASSWORD")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with database().session() as session:
        unit = office = None
        if unit_code:
            unit = units.by_code(session, unit_code)
            if unit is None:
                raise click.ClickException(f"no unit with code {unit_code!r}")
        if office_unit_code:
            office = units.office_by_unit_code(session, office_unit_code)
            if office is None:
                raise click.ClickException(f"unit {office_unit_code!r} has no discipline office")
        try:
            user = staff_service.create_user(
                session, username, display_name, password, roles, unit=unit, office=office
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        _print_enrolment(user.username, user.totp_secret)


@user_group.command("list")
@with_appcontext
def user_list() -> None:
    """List staff accounts."""
    with database().session() as session:
        users = staff_service.list_users(session)
        if not users:
            click.echo("No staff accounts.")
        for user in users:
            roles = ",".join(sorted(r.value for r in user.roles))
            status = "active" if user.active else "disabled"
            unit = user.unit.code if user.unit else "-"
            click.echo(
                f"{user.username:<16} {status:<8} {unit:<10} {roles:<30} {user.display_name}"
            )


def _set_active(username: str, active: bool) -> None:
    with database().session() as session:
        try:
            staff_service.set_active(session, username, active)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{'Enabled' if active else 'Disabled'} {username}.")


@user_group.command("disable")
@click.argument("username")
@with_appcontext
def user_disable(username: str) -> None:
    """Disable a staff account; its sessions end at the next request."""
    _set_active(username, False)


@user_group.command("enable")
@click.argument("username")
@with_appcontext
def user_enable(username: str) -> None:
    """Enable a disabled staff account again."""
    _set_active(username, True)


@user_group.command("code")
@click.argument("username")
@with_appcontext
def user_code(username: str) -> None:
    """Print the current TOTP code of a demo account (demo instances only)."""
    if not current_app.config["DEMO"]:
        raise click.ClickException("only on a demo instance; use your authenticator app")
    logins = {login.username: login for login in demo_service.DEMO_LOGINS}
    if username not in logins:
        raise click.ClickException(f"{username!r} is not a demo login")
    click.echo(staff_service.totp_now(logins[username].totp_secret))


# --- serving --------------------------------------------------------------------------------


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


@click.command("run")
@click.option("--public", "public_bind", help="host:port of the public site.")
@click.option("--console", "console_bind", help="host:port of the console.")
@with_appcontext
def run_command(public_bind: str | None, console_bind: str | None) -> None:
    """Local use: migrate, add demo data to a new database, serve both apps until Ctrl-C."""
    from werkzeug.serving import make_server

    create_app = current_app.extensions["portal.factory"]
    engine = _engine()
    new = migrate.is_empty(engine)
    migrate.upgrade(engine)
    logins = _load_demo() if new else None
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
        server = make_server(
            host, port, apps[surface], threaded=True, request_handler=_handler(surface)
        )
        if surface == "public":
            logging_setup.quiet_development_server(server)
        servers.append(server)
    click.echo(f"Public site: http://{public_bind}/")
    click.echo(f"Console:     http://{console_bind}/")
    if logins:
        click.echo(_demo_logins_text(logins))
    elif config["DEMO"]:
        click.echo(_demo_logins_text(demo_service.DEMO_LOGINS))
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
    from app.disclosures import runtime

    while not stopped.wait(PUBLISH_DUE_EVERY_SECONDS):
        with console_app.app_context():
            try:
                runtime.publish_due(get_session())
            except Exception:  # keep the loop alive; the next round tries again
                logging.getLogger("portal.scheduler").exception("publishing scheduled items failed")


PUBLISH_DUE_EVERY_SECONDS = 30


def _handler(surface: str):
    from werkzeug.serving import WSGIRequestHandler

    return logging_setup.public_request_handler() if surface == "public" else WSGIRequestHandler


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
        "--forwarded-allow-ips",
        ",".join(str(n) for n in config["TRUSTED_PROXIES"]) or "127.0.0.1",
    ]
    if surface == "public":
        # Its error log dated by the day, without request lines, headers or addresses.
        cmd += ["--logger-class", "app.logging_setup.PublicServerLog"]
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
