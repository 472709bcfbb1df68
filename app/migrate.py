"""Alembic driven from code: ``portal db upgrade`` and the tests use these functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Tables that are not models: the full-text index differs by backend (an FTS5 virtual
# table and the shadow tables FTS5 keeps on SQLite; a tsvector table on PostgreSQL), so
# migrations create it by hand and autogenerate must not offer to drop it.
UNMODELLED_TABLES = frozenset(
    ["disclosure_search"]
    + [f"disclosure_search_{part}" for part in ("data", "idx", "content", "docsize", "config")]
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic hook: leave the hand-made tables above (and their indexes) out of comparisons."""
    if type_ == "table":
        return name not in UNMODELLED_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name not in UNMODELLED_TABLES


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (head by default), creating it from empty if needed."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def is_empty(engine: Engine) -> bool:
    """True when the database has none of our tables yet."""
    return "units" not in inspect(engine).get_table_names()
