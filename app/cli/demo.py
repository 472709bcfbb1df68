"""``portal demo``: a demo organisation, its staff, keys and reports; what it prints."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app import migrate
from app.cli.disclosures import prepare_disclosures
from app.db import database
from app.i18n import today
from app.resources import (
    blob_store,
    deadline_rules,
    receipt_pepper,
    receipt_versions,
    seal_params,
)
from app.services import demo as demo_service
from app.services.recovery import share_sheets_text
from app.services.reports.demo import DEMO_REPORTS, DemoReport


def demo_logins_text(
    logins: list[demo_service.DemoLogin], reports: Sequence[DemoReport] = DEMO_REPORTS
) -> str:
    """The demo's logins and its reports' receipt codes, as ``demo`` and ``run`` print them."""
    lines = ["Demo logins (console; password, TOTP secret, roles):"]
    for login in logins:
        roles = ",".join(role.value for role in login.roles)
        lines.append(f"  {login.username:<14} {login.password:<20} {login.totp_secret}  {roles}")
    lines.append("  The 6-digit code: any TOTP app, or: portal user code USERNAME")
    if reports:
        lines.append("Demo reports (receipt codes, demo only; enter one at /report/follow-up):")
        for report in reports:
            office = f"{report.office} office"
            lines.append(
                f"  {report.code}  {report.status.value:<12} {office:<10} {report.summary}"
            )
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


DEMO_SHARES_FILE = "demo-recovery-shares.txt"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner can read (made with mode 0600)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def load_demo() -> list[demo_service.DemoLogin]:
    """Load the demo; write its offices' recovery share sheets to a file only we can read."""
    # Not in session.begin(): the demo's reports are committed one by one, as the site does.
    with database().sessions() as session:
        try:
            demo = demo_service.load_demo(
                session,
                blobs=blob_store().bound(session),
                seal_params=seal_params(),
                today=today(),
                pepper=receipt_pepper(),
                receipt_versions=receipt_versions(),
                rules=deadline_rules(),
            )
        except demo_service.DemoError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    prepare_disclosures()
    _mark_demo(current_app.instance_path)
    shares_file = Path(current_app.instance_path) / DEMO_SHARES_FILE
    write_private(shares_file, share_sheets_text(demo.share_sheets))
    sheet = demo.share_sheets[0]
    click.echo(
        f"Recovery share sheets of the demo offices ({sheet.threshold} of {sheet.count} "
        f"recover each key): {shares_file}"
    )
    return demo.logins


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Fill a new database with a demo organisation and demo staff."""
    migrate.upgrade(database().engine)
    click.echo(demo_logins_text(load_demo()))
