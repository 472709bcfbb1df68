"""``portal user ...``: staff accounts, and the keys of those who read reports."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import database, utcnow
from app.i18n import enterprise_zone
from app.models import Role
from app.services import audit, enrolment
from app.services import demo as demo_service
from app.services import keys as keys_service
from app.services import staff as staff_service


def print_enrolment(issued: enrolment.IssuedCode) -> None:
    """What an administrator passes on to the account's owner, in person or by a safe channel."""
    local = issued.expires_at.astimezone(enterprise_zone(current_app.config))
    click.echo(
        f"One-time enrolment code for {issued.username} (shown only now; it works until "
        f"{local:%Y-%m-%d %H:%M %Z}):"
    )
    click.echo(f"    {issued.code}")
    click.echo(
        "Give it to its owner only. At /enrol on the console they choose their own password, "
        "add the account to an authenticator app and get their recovery codes."
    )


def record_admin_change(session, user, detail: str) -> None:
    """An administrator's change on the command line, in the audit log (the command is run by
    whoever administers the server, who has no console account: no actor, the account as
    subject)."""
    audit.record(session, audit.AuditAction.admin_change, actor=None, subject=user, detail=detail)


def issue_enrolment(session, user) -> enrolment.IssuedCode:
    return enrolment.issue_code(
        session, user, utcnow(), hours=current_app.config["ENROLMENT_HOURS"]
    )


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
@with_appcontext
def user_add(username, display_name, roles, unit_code, office_unit_code) -> None:
    """Add a staff account and print its one-time enrolment code (never a password)."""
    with database().session() as session:
        try:
            unit = staff_service.unit_for_staff(session, unit_code)
            office = staff_service.office_for_staff(session, office_unit_code)
            user = staff_service.create_user(
                session, username, display_name, None, roles, unit=unit, office=office
            )
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.username}.")
        record_admin_change(session, user, "added; enrolment code issued")
        print_enrolment(issue_enrolment(session, user))
        if keys_service.needs_identity(user):
            click.echo(
                f"{user.username} reads reports: the key that reports are encrypted to is made "
                "when they enrol; until then no report is encrypted to them."
            )


def _echo_key_change(change: keys_service.KeyChange, user, sealed: int = 0) -> None:
    name = user.username
    if change is keys_service.KeyChange.removed:
        click.echo(
            f"{name} reads reports: the old key is removed (it was sealed under the old "
            "password), and a NEW key is made when they enrol. Reports sent to the old key "
            f"({sealed}) stay closed to {name} until a colleague of the office grants them again "
            "or the office's recovery key re-opens them (portal keys recover)."
        )
    elif change is keys_service.KeyChange.missing:
        click.echo(
            f"{name} reads reports but has no key yet, so no report can be encrypted to it: "
            "the key is made from their own password at their next sign-in (or enrolment). "
            "portal keys list shows every account without a key."
        )


@user_group.command("reset")
@click.argument("username")
@with_appcontext
def user_reset(username: str) -> None:
    """Reset a staff account (lost password or authenticator): a new enrolment code.

    The password, authenticator, recovery codes and sessions stop working at once; readers
    of reports get a new key when they enrol.
    """
    with database().session() as session:
        try:
            user = staff_service.by_username(session, username)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        sealed = keys_service.reports_sealed_to(session, user)
        issued = issue_enrolment(session, user)
        record_admin_change(session, user, "reset; enrolment code issued")
        click.echo(
            f"Reset {user.username}: their password, authenticator app, recovery codes and "
            "console sessions no longer work."
        )
        print_enrolment(issued)
        _echo_key_change(issued.key_change, user, sealed)


@user_group.command("password", hidden=True)
@click.argument("username")
def user_password(username: str) -> None:
    """Replaced by ``portal user reset``: administrators never set passwords."""
    raise click.ClickException(
        "administrators no longer set passwords: give the owner an enrolment code with "
        f"portal user reset {username}"
    )


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
@with_appcontext
def user_roles(username, roles, office_unit_code) -> None:
    """Set a staff account's roles; its console sessions end. A new reader of reports gets a
    key at their next sign-in."""
    with database().session() as session:
        try:
            office = staff_service.office_for_staff(session, office_unit_code)
            user = staff_service.by_username(session, username)
            change = staff_service.set_roles(session, user, roles, office=office)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        roles_text = ",".join(sorted(r.value for r in user.roles))
        record_admin_change(session, user, f"roles: {roles_text}"[:100])
        click.echo(f"Roles of {user.username}: {', '.join(sorted(r.value for r in user.roles))}.")
        _echo_key_change(change, user)


@user_group.command("signout")
@click.argument("username")
@with_appcontext
def user_signout(username: str) -> None:
    """End every console session of a staff account at once (they sign in again)."""
    with database().session() as session:
        try:
            user = staff_service.by_username(session, username)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        ended = staff_service.end_all_sessions(session, user)
        record_admin_change(session, user, "signed out of every session")
    click.echo(f"Ended {ended} console session(s) of {user.username}.")


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
            user = staff_service.set_active(session, username, active)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        record_admin_change(session, user, "enabled" if active else "disabled")
    click.echo(f"{'Enabled' if active else 'Disabled'} {username}.")


@user_group.command("disable")
@click.argument("username")
@with_appcontext
def user_disable(username: str) -> None:
    """Disable a staff account; its console sessions end at once."""
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


@user_group.command("email")
@click.argument("username")
@click.argument("address", required=False, default="")
@with_appcontext
def user_email(username: str, address: str) -> None:
    """Set where a staff account's daily digest goes (no ADDRESS: remove it; the digest then
    waits in the console's outbox only)."""
    with database().session() as session:
        try:
            user = staff_service.by_username(session, username)
            changed = staff_service.set_email(session, user, address)
        except staff_service.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        if changed:
            record_admin_change(
                session, user, "e-mail address set" if user.email else "e-mail address removed"
            )
        if user.email:
            click.echo(f"The daily digest of {user.username} goes to {user.email}.")
        else:
            click.echo(
                f"{user.username} has no e-mail address: their digest waits in the console only."
            )
