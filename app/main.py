"""The ``portal`` console script: the console app's commands, and a clear word on bad settings."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from app import create_app
from app.config import ConfigError


def _console_app() -> Flask:
    return create_app("console")


def main() -> None:
    """Entry point of the ``portal`` console script."""
    cli = FlaskGroup(
        create_app=_console_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        help="The open affairs portal.",
    )
    try:
        cli.main(prog_name="portal")
    except ConfigError as exc:
        click.echo("Configuration error:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
