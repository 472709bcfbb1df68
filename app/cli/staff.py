"""``portal user ...``: staff accounts, and the keys of those who read reports."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import database
from app.models import Role
from app.resources import seal_params
from app.services import demo as demo_service
from app.services import keys as keys_service
from app.services import staff as staff_service
from app.services import units


def print_enrolment(username: str, secret: str) -> None:
    click.echo(f"Created {username}. Add this TOTP secret to an authenticator app: {secret}")


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
    password = _ask_password(password)
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
                session,
                username,
                display_name,
                password,
                roles,
                unit=unit,
                office=office,
                seal_params=seal_params(),
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        if user.age_recipient:
            _echo_key_change(keys_service.KeyChange.created, user)
        print_enrolment(user.username, user.totp_secret)


def _ask_password(password: str | None) -> str:
    if password:
        return password
    if not sys.stdin.isatty():
        raise click.UsageError("give --password or PORTAL_USER_PASSWORD")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _echo_key_change(change: keys_service.KeyChange, user) -> None:
    name = user.username
    if change is keys_service.KeyChange.created:
        click.echo(f"Made the key that reports are encrypted to: {user.age_recipient}")
    elif change is keys_service.KeyChange.replaced:
        click.echo(
            f"{name} reads reports, so a NEW key was made ({user.age_recipient}): the old one "
            "was sealed under the old password. Reports sent to the old key stay closed to "
            f"{name} until a colleague of the office grants them again or the office's "
            "recovery key re-opens them (portal keys recover)."
        )
    elif change is keys_service.KeyChange.removed:
        click.echo(f"Removed the key of {name}: the account no longer reads reports.")
    elif change is keys_service.KeyChange.missing:
        click.echo(
            f"{name} reads reports but has no key yet, so no report can be encrypted to it: "
            f"set a password (portal user password {name}) or give its current one with "
            "--password. portal keys list shows every account without a key."
        )


@user_group.command("password")
@click.argument("username")
@click.option(
    "--password", envvar="PORTAL_USER_PASSWORD", help="New password (or PORTAL_USER_PASSWORD)."
)
@with_appcontext
def user_password(username: str, password: str | None) -> None:
    """Reset a staff account's password (administrator). Readers of reports get a new key."""
    password = _ask_password(password)
    with database().session() as session:
        try:
            user = staff_service.by_username(session, username)
            change = staff_service.set_password(
                session, user, password, by_admin=True, seal_params=seal_params()
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Set a new password for {user.username}.")
        _echo_key_change(change, user)


@user_group.command("roles")
@click.argument("username")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Role (repeatable): the account gets exactly these.",
)
@click.option(
    "--office", "office_unit_code", help="Unit code of the discipline office (inspectors, heads)."
)
@click.option("--password", help="The account's current password, to seal a new key under.")
@with_appcontext
def user_roles(username, roles, office_unit_code, password) -> None:
    """Set a staff account's roles; a new reader of reports gets a key if --password is given."""
    with database().session() as session:
        office = None
        if office_unit_code:
            office = units.office_by_unit_code(session, office_unit_code)
            if office is None:
                raise click.ClickException(f"unit {office_unit_code!r} has no discipline office")
        try:
            user = staff_service.by_username(session, username)
            change = staff_service.set_roles(
                session, user, roles, password, seal_params(), office=office
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Roles of {user.username}: {', '.join(sorted(r.value for r in user.roles))}.")
        _echo_key_change(change, user)


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
