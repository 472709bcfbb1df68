"""The search index's table: a virtual FTS5 table on SQLite, a tsvector table on PostgreSQL.

It is not a mapped class (neither shape maps onto one), so its DDL is attached to
``Base.metadata`` here, with the models: ``metadata.create_all`` (tests, throw-away databases)
builds it whatever was imported before. Real databases get it from migrations 0003, 0005 and 0021,
which keep their own copies of these statements, as migrations must.
"""

from __future__ import annotations

from sqlalchemy import DDL, column, event, table

from app.db import Base
from app.models.disclosures import Disclosure

# On PostgreSQL each document also holds the lexeme ``~b<id / BUCKET_IDS>``, so that the
# newest matches are found bucket by bucket (see ``_postgres_candidates``); no query term
# can be such a lexeme, as the query tokeniser keeps letters and digits only.
BUCKET_IDS = 4096
BUCKET_PREFIX = "~b"
FIRST_BUCKETS = 2  # buckets asked for in the first round (later rounds: as the matches suggest)
MAX_BUCKETS = 64  # more buckets than this in one round: no bucket condition, an id bound instead

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS disclosure_search USING fts5("
    "title, tokens, names UNINDEXED, tokenize='unicode61 remove_diacritics 0')",
]
POSTGRES_DDL = [
    "CREATE TABLE IF NOT EXISTS disclosure_search ("
    " id INTEGER PRIMARY KEY REFERENCES disclosures (id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '',"
    " tokens TEXT NOT NULL DEFAULT '',"
    " names TEXT NOT NULL DEFAULT '',"
    " scope VARCHAR(20),"
    " unit_id INTEGER,"
    " published_at TIMESTAMP WITH TIME ZONE,"
    " tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', tokens)"
    f" || array_to_tsvector(ARRAY['{BUCKET_PREFIX}' || (id / {BUCKET_IDS})::text])) STORED)",
    # Ranking reads each candidate's whole tsvector: kept in the row, not in TOAST (0021).
    "ALTER TABLE disclosure_search ALTER COLUMN tsv SET STORAGE MAIN",
    "CREATE INDEX IF NOT EXISTS ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)",
]


def _create_ddl(target, connection, **_kw) -> None:
    statements = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRES_DDL
    for statement in statements:
        connection.execute(DDL(statement))


def _drop_ddl(target, connection, **_kw) -> None:
    connection.execute(DDL("DROP TABLE IF EXISTS disclosure_search"))


event.listen(Base.metadata, "after_create", _create_ddl)
event.listen(Base.metadata, "before_drop", _drop_ddl)
SQLITE_TABLE = table("disclosure_search", column("rowid"), column("names"))
# On PostgreSQL the row also holds the item's scope, unit and publication time, so that
# matches are filtered and sorted without a lookup of each one in the disclosures table.
POSTGRES_TABLE = table(
    "disclosure_search",
    column("id"),
    column("title"),
    column("tokens"),
    column("names"),
    column("tsv"),
    column("scope", Disclosure.__table__.c.scope.type),
    column("unit_id"),
    column("published_at", Disclosure.__table__.c.published_at.type),
)
