"""search on PostgreSQL: each document's tsvector also holds the bucket of its id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00.000000

A GIN index has no order, so finding the newest matches of a common word used to read the
table row of every match. With a lexeme ``~b<id / 4096>`` in each document (a lexeme no
query can produce: the query tokeniser keeps letters and digits only), the search asks
for matches in the newest buckets first and reads only those rows. SQLite's FTS5 index
is read newest first as it is, so nothing changes there.
"""

from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WORDS = "setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', tokens)"
BUCKET = "array_to_tsvector(ARRAY['~b' || (id / 4096)::text])"


def _rebuild(expression: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE disclosure_search DROP COLUMN tsv")  # and its index
    op.execute(
        f"ALTER TABLE disclosure_search ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute("CREATE INDEX ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)")
    op.execute("ANALYZE disclosure_search")


def upgrade() -> None:
    _rebuild(f"{WORDS} || {BUCKET}")


def downgrade() -> None:
    _rebuild(WORDS)
