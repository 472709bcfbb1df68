"""days reset marker: the daily pass's last day done, in the database

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 12:00:00.000000

``days_reset_markers`` (app/models/day_reset.py): one row, the last day whose reports' times
the daily pass has reset, a date and nothing else. On PostgreSQL every server that shares the
database reads it (until now each kept ``.days-reset`` in its own blob folder, so each ran the
whole pass). It starts empty: the first pass on PostgreSQL takes the day from the blob folder's
``.days-reset`` of the machine it runs on, where there is one, else does every day once again.
SQLite keeps its marker file and leaves the table empty. Going down forgets the day: the pass
of the earlier release reads the blob folders' files again (or, finding none, does every day
once more).
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('days_reset_markers',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_days_reset_markers_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_days_reset_markers'))
    )


def downgrade() -> None:
    op.drop_table('days_reset_markers')
