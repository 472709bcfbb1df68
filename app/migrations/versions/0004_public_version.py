"""public version: one counter row bumped by every change the public site shows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:00:00.000000

Public pages are cached per process and keyed by this counter. A later migration that
changes public content with plain SQL must bump it too (or the public app be restarted).
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('public_versions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_versions'))
    )
    op.bulk_insert(table, [{'id': 1, 'version': 1}])


def downgrade() -> None:
    op.drop_table('public_versions')
