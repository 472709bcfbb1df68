"""joint supervision of major decisions: decision records and the workers' congress's review

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-07 15:00:00.000000

``disclosures`` gains the working copy's decision record and request for the congress's
review, and the public copy of that review; ``disclosure_revisions`` gains the record and the
review as each revision published them (NULL on older revisions, whose log records do not
change). Plain ALTER TABLE ADD COLUMN (no rebuild); dropped again one by one.
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None

_STATUS = sa.Enum('awaiting', 'under_review', 'reviewed', name='congressstatus', native_enum=False, length=20)


def upgrade() -> None:
    op.add_column('disclosures', sa.Column('decision_record', sa.Text(), nullable=True))
    op.add_column('disclosures', sa.Column('congress_requested', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('disclosures', sa.Column('congress_status', _STATUS, nullable=True))
    op.add_column('disclosures', sa.Column('congress_opinion', sa.Text(), nullable=False, server_default=''))
    op.create_index(op.f('ix_disclosures_congress_status'), 'disclosures', ['congress_status'], unique=False)
    op.add_column('disclosure_revisions', sa.Column('decision_record', sa.Text(), nullable=True))
    op.add_column('disclosure_revisions', sa.Column('congress_status', _STATUS, nullable=True))
    op.add_column('disclosure_revisions', sa.Column('congress_opinion', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_index(op.f('ix_disclosures_congress_status'), table_name='disclosures')
    for table, column in (
        ('disclosure_revisions', 'congress_opinion'),
        ('disclosure_revisions', 'congress_status'),
        ('disclosure_revisions', 'decision_record'),
        ('disclosures', 'congress_opinion'),
        ('disclosures', 'congress_status'),
        ('disclosures', 'congress_requested'),
        ('disclosures', 'decision_record'),
    ):
        op.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN {column}'))
