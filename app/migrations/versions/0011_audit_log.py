"""audit: the staff audit trail and its signed checkpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00.000000

Every audited act of the console is a row of ``audit_entries`` and a leaf of the audit log
(a second signed log: its own key and origin); ``audit_checkpoints`` holds its signed
checkpoints. New tables only: nothing existing is rebuilt.
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('subject_username', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.CheckConstraint('log_index >= 0', name=op.f('ck_audit_entries_log_index_not_negative')),
    sa.ForeignKeyConstraint(['actor_id'], ['staff_users.id'], name=op.f('fk_audit_entries_actor_id_staff_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['staff_users.id'], name=op.f('fk_audit_entries_subject_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('log_index', name=op.f('uq_audit_entries_log_index')),
    )
    op.create_index('ix_audit_entries_action_log_index', 'audit_entries', ['action', 'log_index'], unique=False)
    op.create_index('ix_audit_entries_actor_id_log_index', 'audit_entries', ['actor_id', 'log_index'], unique=False)
    op.create_index('ix_audit_entries_case_id_log_index', 'audit_entries', ['case_id', 'log_index'], unique=False)
    op.create_index('ix_audit_entries_on_date_log_index', 'audit_entries', ['on_date', 'log_index'], unique=False)
    op.create_index('ix_audit_entries_subject_id_log_index', 'audit_entries', ['subject_id', 'log_index'], unique=False)
    op.create_table('audit_checkpoints',
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_audit_checkpoints')),
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
    op.drop_index('ix_audit_entries_subject_id_log_index', table_name='audit_entries')
    op.drop_index('ix_audit_entries_on_date_log_index', table_name='audit_entries')
    op.drop_index('ix_audit_entries_case_id_log_index', table_name='audit_entries')
    op.drop_index('ix_audit_entries_actor_id_log_index', table_name='audit_entries')
    op.drop_index('ix_audit_entries_action_log_index', table_name='audit_entries')
    op.drop_table('audit_entries')
