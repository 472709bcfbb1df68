"""reports: whether the report's own files are encrypted to the reporter too

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00.000000

``reports.reporter_copy`` says that the report's text and attachments were encrypted to the
reporter's own key (``reporter_recipient``) as well as to the office, so that the receipt code
alone shows the reporter what was sent. Reports stored before were not: they get false.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reports', sa.Column(
        'reporter_copy', sa.Boolean(), nullable=False, server_default=sa.false()
    ))


def downgrade() -> None:
    # Not a batch operation: on SQLite that rebuilds the table, cascading to its files and
    # messages (see 0009).
    op.execute(sa.text('ALTER TABLE reports DROP COLUMN reporter_copy'))
