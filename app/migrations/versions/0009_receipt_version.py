"""reports: the version of the receipt derivation each report's lookup id was made with

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:00:00.000000

``reports.receipt_version`` names the entry of ``crypto.receipts.RECEIPT_VERSIONS`` whose
parameters turned the report's receipt code into its lookup id and reporter key; new reports
get the current one. A lookup derives the code under every version still in use.

Rows made before this revision get 0, "1 or 2": the reports table (0008) came with Argon2id at
64 MiB, 3 passes and 4 lanes (version 1), and less than an hour of changes later the lanes
went to 1 (version 2) with no change of schema. A database at 0008 may hold reports of either,
and nothing stored tells them apart without their codes (the lookup id is a keyed hash), so
such a row is opened by a code that matches under version 1 or 2, and keeps both in use until
it is gone. The downgrade drops the column; on the way up again every row gets 0 once more.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds a NOT NULL column only with a default: it fills the existing rows.
    op.add_column('reports', sa.Column(
        'receipt_version', sa.SmallInteger(), nullable=False, server_default='0'
    ))
    op.create_index(
        op.f('ix_reports_receipt_version'), 'reports', ['receipt_version'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_reports_receipt_version'), table_name='reports')
    # Not a batch operation: on SQLite that copies the table and drops the old one, which
    # would delete the reports' messages and files by their foreign keys' cascade, and lose
    # WITHOUT ROWID. SQLite drops a column in place since 3.35, as PostgreSQL does.
    op.execute(sa.text('ALTER TABLE reports DROP COLUMN receipt_version'))
