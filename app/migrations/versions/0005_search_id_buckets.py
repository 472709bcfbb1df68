"""search on PostgreSQL: id buckets in each tsvector; scope, unit and date in each row

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00.000000

A GIN index has no order, so finding the newest matches of a common word used to read the
row of every match, and then the disclosure of each. Now each document's tsvector also
holds a lexeme ``~b<id / 4096>`` (no query can produce it: the query tokeniser keeps
letters and digits only), so the search asks for matches in the newest buckets first and
the index narrows them; and each row carries the item's scope, unit and publication time,
so the matches are filtered and sorted without the disclosures table. SQLite's FTS5 index
is read newest first as it is: nothing changes there.
"""

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

WORDS = "setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', tokens)"
BUCKET = "array_to_tsvector(ARRAY['~b' || (id / 4096)::text])"


def _tsvector(expression: str) -> None:
    # Adding the column rewrites the table, leaving no dead rows of the updates before.
    op.execute("ALTER TABLE disclosure_search DROP COLUMN tsv")  # and its index
    op.execute(
        "ALTER TABLE disclosure_search ADD COLUMN tsv tsvector "
        f"GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute("CREATE INDEX ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)")
    op.execute("ANALYZE disclosure_search")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE disclosure_search ADD COLUMN scope VARCHAR(20), "
        "ADD COLUMN unit_id INTEGER, ADD COLUMN published_at TIMESTAMP WITH TIME ZONE"
    )
    op.execute(
        "UPDATE disclosure_search s SET scope = d.scope, unit_id = d.unit_id, "
        "published_at = d.published_at FROM disclosures d WHERE d.id = s.id"
    )
    _tsvector(f"{WORDS} || {BUCKET}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE disclosure_search DROP COLUMN scope, DROP COLUMN unit_id, "
        "DROP COLUMN published_at"
    )
    _tsvector(WORDS)
