"""``portal keys ...``: who reads an office's reports, and the office recovery keys.

``keys list`` shows, per office, the inspectors and heads whose keys new reports are
encrypted to and what each of them reads, the accounts that need a key and have none, the
recovery key, and whether the office takes reports now.
``keys ceremony`` makes an office's recovery key and prints its share sheets;
``keys recover`` proves that K shares recover it. No command prints an unsealed key.
"""

from __future__ import annotations

import getpass
import sys
from typing import NoReturn

import click
from flask.cli import with_appcontext

from app.db import database
from app.i18n import today
from app.models import DisciplineOffice, Role
from app.services import keys, units
from app.services.recovery import (
    RecoveryError,
    parse_holders,
    recover_office_identity,
    recovery_ceremony,
    share_sheets_text,
)
from crypto.shares import MAX_SHARES


class Refused(click.ClickException):
    """A request the command will not carry out: one line on stderr, exit status 2."""

    exit_code = 2


def refuse(message: str) -> NoReturn:
    raise Refused(message)


def office_label(office: DisciplineOffice) -> str:
    return f"{office.unit.code} ({office.name_zh} / {office.name_en})"


@click.group("keys", help="Keys that reports are encrypted to; office recovery keys.")
def keys_group() -> None:
    pass


# What ``keys list`` says each reader gets: the rule of app.services.reports.recipients.
WHO_READS = (
    "Each new report of an office is encrypted to the inspectors and heads listed as reading\n"
    "and to its recovery key. The report, its files and its messages go to all of them; the\n"
    "reporter's name and contact, if given, to the heads and the recovery key only. A reporter\n"
    "may keep out any inspector or head: keeping out an inspector leaves the report with the\n"
    "others, keeping out a head (or every inspector) sends it to the office above.\n"
)
READS_ALL = "report, messages, name"
READS_REPORT = "report, messages"


@keys_group.command("list")
@with_appcontext
def keys_list() -> None:
    """Per office: who reads new reports and what, who needs a key, and the recovery key."""
    with database().session() as session:
        overview = keys.keys_overview(session)
        if not overview:
            click.echo("No discipline offices.")
            return
        click.echo(WHO_READS)
        for item in overview:
            office = item.office
            click.echo(f"{office.unit.code}  {office.name_zh} / {office.name_en}")
            for user in item.readers:
                roles = ",".join(sorted(r.value for r in user.roles if r in keys.KEY_ROLES))
                reads = READS_ALL if user.has_role(Role.office_head) else READS_REPORT
                click.echo(
                    f"  reads    {user.username:<16} {roles:<22} {reads:<23} {user.display_name}"
                )
            for user in item.waiting:
                click.echo(
                    f"  NO KEY   {user.username:<16} no key yet: made at their next sign-in "
                    f"or enrolment (portal user reset {user.username} if they cannot sign in)"
                )
            if office.recovery_recipient:
                made_on = office.recovery_made_on.isoformat() if office.recovery_made_on else "?"
                click.echo(
                    f"  recovery key: yes, {office.recovery_threshold} of "
                    f"{office.recovery_shares} shares, made {made_on}; opens everything"
                )
            else:
                click.echo(
                    f"  recovery key: NO (make one: portal keys ceremony --office "
                    f"{office.unit.code} --threshold K --shares N)"
                )
            if not item.takes_reports:
                click.echo(
                    "  TAKES NO REPORTS: it needs a recovery key and an inspector with a key; "
                    "its reports go to the office above"
                )
            elif not item.heads:
                click.echo(
                    "  no head with a key: a reporter's name opens with the recovery key alone"
                )


def _office(session, code: str) -> DisciplineOffice:
    office = units.office_by_unit_code(session, code.strip().upper())
    if office is None:
        refuse(f"no discipline office at unit {code!r} (see: portal keys list)")
    return office


@keys_group.command("ceremony")
@click.option("--office", "office_code", required=True, help="Unit code of the office.")
@click.option("--threshold", type=int, required=True, help="Shares needed to recover (K).")
@click.option("--shares", "count", type=int, required=True, help="Shares to make (N).")
@click.option("--names", help='Holders, in share order: "张伟,李娜,..." (N names).')
@click.option("--replace", is_flag=True, help="Replace the office's existing recovery key.")
@with_appcontext
def keys_ceremony(
    office_code: str, threshold: int, count: int, names: str | None, replace: bool
) -> None:
    """Make an office's recovery key, split K of N, and print the N share sheets.

    Only the public key and the facts of the split are stored; the sheets printed here are
    the only copies of the private key.
    """
    try:
        holders = parse_holders(names) if names is not None else None
    except RecoveryError as exc:
        refuse(str(exc))
    with database().session() as session:
        office = _office(session, office_code)
        had_key = bool(office.recovery_recipient)
        try:
            sheets = recovery_ceremony(
                session, office, threshold, count, holders, today(), replace=replace
            )
        except RecoveryError as exc:
            refuse(str(exc))
        label = office_label(office)
    if had_key:
        click.echo(
            "Warning: the office has a NEW recovery key. Reports already received stay "
            "readable with the OLD shares only: keep them until those reports are closed.",
            err=True,
        )
    click.echo(f"Recovery key of {label}: {threshold} of {count} shares.")
    click.echo("Give each sheet to its holder only; do not keep copies on this computer.\n")
    click.echo(share_sheets_text(sheets))
    click.echo(f"Stored the public key {sheets[0].recipient} and nothing else.")


def read_shares(threshold: int) -> list[str]:
    """Shares from stdin, one per line: asked for one at a time on a terminal, else read to
    the end (more than K may be piped: the first K are used, once all of them check out).

    On a terminal the words are not echoed: they would stay on the screen, in its scrollback
    and in a recording of the session, for anyone who looks later."""
    stream = sys.stdin
    interactive = stream.isatty()
    wanted = threshold if interactive else MAX_SHARES + 1  # enough to refuse a flood
    shares: list[str] = []
    while len(shares) < wanted:
        if interactive:
            try:
                line = getpass.getpass(
                    f"Share {len(shares) + 1} of {threshold} (all words, one line; not shown): "
                )
            except EOFError:
                break
        else:
            line = stream.readline()
            if not line:
                break
        if line.strip():
            shares.append(line)
    return shares


@keys_group.command("recover")
@click.option("--office", "office_code", required=True, help="Unit code of the office.")
@with_appcontext
def keys_recover(office_code: str) -> None:
    """Combine K shares (one per line on stdin) and prove they recover the office's key."""
    with database().session() as session:
        office = _office(session, office_code)
        label = office_label(office)
        if not office.recovery_recipient or not office.recovery_threshold:
            refuse(f"{office.unit.code} has no recovery key (portal keys ceremony)")
        threshold = office.recovery_threshold
        try:
            identity = recover_office_identity(office, read_shares(threshold))
        except RecoveryError as exc:
            refuse(str(exc))
    click.echo(f"Recovered the recovery key of {label}.")
    click.echo(f"It matches the stored public key {identity.recipient}.")
