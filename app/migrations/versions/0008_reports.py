"""reports: inspector and recovery keys, anonymous reports, their files and threads

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:12:09.412663

Inspectors and office heads get an X25519 identity (its public key, and the identity sealed
under their password); discipline offices the public key of their recovery identity. Reports
are dated by the day and have random ids; their files are age headers here and payloads in
the blob store. Existing rows are left as they are: accounts get their keys when they next
get a role or a password (``portal keys list`` shows who has none).
"""

from alembic import op
import sqlalchemy as sa



revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('lookup_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('misconduct', 'criticism', name='reportkind', native_enum=False, length=24), nullable=False),
    sa.Column('category', sa.Enum('eight_point_rules', 'bribery_embezzlement', 'misuse_of_funds', 'procurement_bidding', 'appointments_personnel', 'work_style', 'party_discipline', 'other', name='reportcategory', native_enum=False, length=24), nullable=False),
    sa.Column('level', sa.Enum('staff', 'middle_manager', 'unit_leader', 'discipline_member', name='subjectlevel', native_enum=False, length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'acknowledged', 'in_progress', 'concluded', name='reportstatus', native_enum=False, length=24), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('acknowledge_by', sa.Date(), nullable=False),
    sa.Column('feedback_by', sa.Date(), nullable=False),
    sa.Column('reporter_recipient', sa.String(length=100), nullable=False),
    sa.Column('real_name', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['discipline_offices.id'], name=op.f('fk_reports_office_id_discipline_offices')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_reports_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('lookup_id', name=op.f('uq_reports_lookup_id')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_office_id'), ['office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_received_on'), ['received_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_unit_id'), ['unit_id'], unique=False)

    op.create_table('report_exclusions',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_exclusions_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_report_exclusions_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('report_id', 'staff_id', name=op.f('pk_report_exclusions')),
    sqlite_with_rowid=False,
    )
    op.create_table('report_messages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('author', sa.Enum('office', 'reporter', name='messageauthor', native_enum=False, length=24), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_messages_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_messages')),
    sa.UniqueConstraint('report_id', 'seq', name=op.f('uq_report_messages_report_id')),
    sqlite_with_rowid=False,
    )
    op.create_table('report_readers',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('inspector', 'office_head', name='readerrole', native_enum=False, length=24), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_readers_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_report_readers_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('report_id', 'staff_id', name=op.f('pk_report_readers')),
    sqlite_with_rowid=False,
    )
    op.create_table('report_envelopes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=True),
    sa.Column('role', sa.Enum('text', 'attachment', 'identity', name='enveloperole', native_enum=False, length=24), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('header', sa.LargeBinary(), nullable=False),
    sa.Column('blob_key', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['report_messages.id'], name=op.f('fk_report_envelopes_message_id_report_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_envelopes_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_envelopes')),
    sa.UniqueConstraint('blob_key', name=op.f('uq_report_envelopes_blob_key')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('report_envelopes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_envelopes_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_envelopes_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('discipline_offices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovery_recipient', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('recovery_threshold', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovery_shares', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovery_set_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovery_made_on', sa.Date(), nullable=True))

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_recipient', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('sealed_identity', sa.Text(), nullable=True))



def downgrade() -> None:
    # recreate='never': SQLite (3.35+) drops these plain columns in place. Recreating the
    # tables would drop them first, which foreign keys from existing rows refuse.
    with op.batch_alter_table('staff_users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('sealed_identity')
        batch_op.drop_column('age_recipient')

    with op.batch_alter_table('discipline_offices', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('recovery_made_on')
        batch_op.drop_column('recovery_set_id')
        batch_op.drop_column('recovery_shares')
        batch_op.drop_column('recovery_threshold')
        batch_op.drop_column('recovery_recipient')

    with op.batch_alter_table('report_envelopes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_envelopes_report_id'))
        batch_op.drop_index(batch_op.f('ix_report_envelopes_message_id'))

    op.drop_table('report_envelopes')
    op.drop_table('report_readers')
    op.drop_table('report_messages')
    op.drop_table('report_exclusions')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_unit_id'))
        batch_op.drop_index(batch_op.f('ix_reports_received_on'))
        batch_op.drop_index(batch_op.f('ix_reports_office_id'))

    op.drop_table('reports')
