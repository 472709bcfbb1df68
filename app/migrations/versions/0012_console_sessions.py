"""staff: server-side console sessions, enrolment codes, recovery codes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00.000000

Console sessions become rows (found by a hash of the browser's random id, with the account's
identity wrapped under a key only the browser holds); administrators issue one-time enrolment
codes instead of passwords; staff get ten one-time recovery codes. Existing accounts keep their
password hash and sealed key until their next sign-in moves them to the one derivation
(``crypto.passwords``). Nothing is rewritten in ``staff_users``: on SQLite a rebuild of that
table would cascade to its roles.

Going down ends every console session and code; accounts already moved to the new password
form cannot sign in with the code of 0011 (they need ``portal user password`` there).
"""

from alembic import op
import sqlalchemy as sa

import app.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('idle_until', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wrapped_identity', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_console_sessions_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions')),
    )
    op.create_index(op.f('ix_console_sessions_staff_id'), 'console_sessions', ['staff_id'], unique=False)
    op.create_index(op.f('ix_console_sessions_idle_until'), 'console_sessions', ['idle_until'], unique=False)
    op.create_index(op.f('ix_console_sessions_expires_at'), 'console_sessions', ['expires_at'], unique=False)
    op.create_table('staff_enrolments',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reset', sa.Boolean(), nullable=False),
    sa.Column('pending_totp_secret', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_enrolments_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_staff_enrolments')),
    )
    op.create_table('staff_recovery_codes',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_recovery_codes_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'code_hash', name=op.f('pk_staff_recovery_codes')),
    )


def downgrade() -> None:
    op.drop_table('staff_recovery_codes')
    op.drop_table('staff_enrolments')
    op.drop_index(op.f('ix_console_sessions_expires_at'), table_name='console_sessions')
    op.drop_index(op.f('ix_console_sessions_idle_until'), table_name='console_sessions')
    op.drop_index(op.f('ix_console_sessions_staff_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
