"""search on PostgreSQL: each row's tsvector kept in the row, not in TOAST

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:00:00.000000

Ranking reads the whole tsvector of each of the (at most 501) newest matches. Most of them
are larger than 2 kB, so PostgreSQL stored them out of the row, in the TOAST table: each
one cost an index lookup and two more pages, and the ranking most of a search's time. The
column's storage is now MAIN (kept in the row unless the row would not fit in a page), and
every row is written again so that the ones already there move in. The GIN index is dropped
first and built again after, which costs far less than updating it row by row. SQLite's FTS5
index is not touched.
"""

from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def _store(storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_disclosure_search_tsv")
    op.execute(f"ALTER TABLE disclosure_search ALTER COLUMN tsv SET STORAGE {storage}")
    # Writing a row computes its generated tsvector afresh, stored as the column now says.
    op.execute("UPDATE disclosure_search SET tokens = tokens")
    op.execute("CREATE INDEX ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)")
    op.execute("ANALYZE disclosure_search")


def upgrade() -> None:
    _store("MAIN")


def downgrade() -> None:
    _store("EXTENDED")
