"""disclosures: indexes that hold what a reader may see

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:00:00.000000

Counting the items a reader may see, and collecting the years and periods they fall in,
read every row of the table at 100,000 items (about a quarter of a second each on SQLite):
the listing index has no scope. With the scope in the index they are answered from the
index alone. The period index replaces the one on ``period_key`` alone.
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_disclosures_period_key', table_name='disclosures')
    op.create_index(
        'ix_disclosures_period', 'disclosures', ['period_key', 'public_state', 'scope'],
        unique=False,
    )
    op.create_index(
        'ix_disclosures_visible', 'disclosures', ['public_state', 'scope', 'published_at'],
        unique=False,
    )
    # Statistics, so that the planner picks the new indexes at once.
    op.execute('ANALYZE disclosures')


def downgrade() -> None:
    op.drop_index('ix_disclosures_visible', table_name='disclosures')
    op.drop_index('ix_disclosures_period', table_name='disclosures')
    op.create_index('ix_disclosures_period_key', 'disclosures', ['period_key'], unique=False)
