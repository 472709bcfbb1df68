"""``portal disclosures reindex|import|export``: the search index and bulk JSON Lines files."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.db import database
from app.services import search


def register(group: click.Group) -> None:
    for command in (reindex_command,):
        group.add_command(command)


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the published disclosures."""
    with database().session() as session:
        count = search.reindex(session)
    click.echo(f"Search index rebuilt: {count} disclosures.")
