"""``portal db ...`` (schema migrations) and ``portal init`` (a database and its first admin)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app import migrate
from app.cli.disclosures import prepare_disclosures
from app.cli.staff import issue_enrolment, print_enrolment, record_admin_change
from app.db import database
from app.models import Role
from app.services import demo as demo_service
from app.services import staff as staff_service


@click.group("db", help="Database schema migrations.")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head), from empty if needed."""
    migrate.upgrade(database().engine, revision)
    click.echo(f"Database at {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    migrate.downgrade(database().engine, revision)
    click.echo(f"Database at {revision}.")


@click.command("init")
@click.option("--admin", "admin_username", help="Username of the first administrator.")
@click.option("--name", "admin_name", help="Display name of the first administrator.")
@with_appcontext
def init_command(admin_username: str | None, admin_name: str | None) -> None:
    """Create or upgrade the database and add the first administrator (with an enrolment
    code: they choose their own password at /enrol)."""
    migrate.upgrade(database().engine)
    click.echo("Database is at the latest schema.")
    prepare_disclosures()
    with database().session() as session:
        if demo_service.has_staff(session):
            click.echo("Staff accounts exist already; add more with: portal user add")
            return
        interactive = sys.stdin.isatty()
        if not admin_username:
            if not interactive:
                raise click.UsageError("give --admin USERNAME (no terminal to ask on)")
            admin_username = click.prompt("Administrator username", default="admin")
        try:
            user = staff_service.create_user(
                session, admin_username, admin_name or admin_username, None, [Role.admin]
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.username}.")
        record_admin_change(session, user, "first administrator; enrolment code issued")
        print_enrolment(issue_enrolment(session, user))
