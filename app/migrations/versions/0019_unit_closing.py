"""closed units and the holders of an office's recovery shares

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 15:00:00.000000

``units.closed_on`` (nullable: an open unit): a closed unit keeps its history and is no
longer offered for new reports, disclosures or staff. ``discipline_offices.recovery_holders``
(nullable): the names of the officers holding the shares of the office's recovery key, one a
line, as given at its ceremony (never a share). Plain ALTER TABLEs: no rebuild, the tables
that refer to these keep their rows.
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('units', sa.Column('closed_on', sa.Date(), nullable=True))
    op.add_column('discipline_offices', sa.Column('recovery_holders', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute(sa.text('ALTER TABLE discipline_offices DROP COLUMN recovery_holders'))
    op.execute(sa.text('ALTER TABLE units DROP COLUMN closed_on'))
