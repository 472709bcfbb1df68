"""the daily digest: staff e-mail addresses and the digest's outbox

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:00:00.000000

``staff_users.email`` (nullable: without one the digest stays in the console's outbox) and
``digest_messages`` (app/models/digest.py), one row per staff member and day. A plain ALTER
TABLE on ``staff_users`` (no rebuild: the tables that refer to it keep their rows).
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff_users', sa.Column('email', sa.String(length=254), nullable=True))
    op.create_table('digest_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('waiting', 'sending', 'sent', 'held', 'failed', name='digeststate', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_digest_messages_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_messages')),
    sa.UniqueConstraint('staff_id', 'day', name=op.f('uq_digest_messages_staff_id'))
    )
    op.create_index(op.f('ix_digest_messages_day'), 'digest_messages', ['day'], unique=False)
    op.create_index(op.f('ix_digest_messages_staff_id'), 'digest_messages', ['staff_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_digest_messages_staff_id'), table_name='digest_messages')
    op.drop_index(op.f('ix_digest_messages_day'), table_name='digest_messages')
    op.drop_table('digest_messages')
    op.execute(sa.text('ALTER TABLE staff_users DROP COLUMN email'))
