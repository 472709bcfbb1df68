"""joint supervision of major decisions: decision records and the workers' congress's review

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:00:00.000000

``disclosures`` gains the working copy's decision record and request for the congress's
review, and the public copy of that review; ``disclosure_revisions`` gains the record and the
review as each revision published them (NULL on older revisions, whose log records do not
change). Plain ALTER TABLE ADD COLUMN (no rebuild).

The disclosure log's leaves commit to what the revision columns hold, so a downgrade does not
drop them (the log would no longer verify, and a published record would be gone): it leaves
every column of this revision in place, nullable or with a server default, which the older
code neither reads nor needs to write; upgrading again adopts them as they are.
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def _status() -> sa.Enum:
    return sa.Enum('awaiting', 'under_review', 'reviewed', name='congressstatus', native_enum=False, length=20)


COLUMNS = {
    'disclosures': (
        lambda: sa.Column('decision_record', sa.Text(), nullable=True),
        lambda: sa.Column('congress_requested', sa.Boolean(), nullable=False, server_default=sa.false()),
        lambda: sa.Column('congress_status', _status(), nullable=True),
        lambda: sa.Column('congress_opinion', sa.Text(), nullable=False, server_default=''),
    ),
    'disclosure_revisions': (
        lambda: sa.Column('decision_record', sa.Text(), nullable=True),
        lambda: sa.Column('congress_status', _status(), nullable=True),
        lambda: sa.Column('congress_opinion', sa.Text(), nullable=True),
    ),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        existing = {c['name'] for c in inspector.get_columns(table)}
        for make in columns:
            column = make()
            if column.name not in existing:
                op.add_column(table, column)
    indexes = {i['name'] for i in inspector.get_indexes('disclosures')}
    if op.f('ix_disclosures_congress_status') not in indexes and 'ix_disclosures_congress_status' not in indexes:
        op.create_index(op.f('ix_disclosures_congress_status'), 'disclosures', ['congress_status'], unique=False)


def downgrade() -> None:
    # Nothing is dropped: see the module's docstring.
    pass
