"""inbox entries: the inbox's own copy of what it lists, one row per case and reader

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11 09:00:00.000000

``inbox_entries`` (app/models/inbox.py) is derived from ``report_readers``, ``reports``,
``cases``, ``case_views`` and ``report_exclusions``; it is filled here from them and kept by
the application after. ``case_labels`` gains an index by name (the inbox's label filter and
its list of labels start there). New table and index only: ``reports`` is not altered.
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table('inbox_entries',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'acknowledged', 'under_assessment', 'disposal_decided', 'concluded', 'answered', name='reportstatus', native_enum=False, length=24), nullable=False),
    sa.Column('kind', sa.Enum('misconduct', 'criticism', name='reportkind', native_enum=False, length=24), nullable=False),
    sa.Column('category', sa.Enum('eight_point_rules', 'bribery_embezzlement', 'misuse_of_funds', 'procurement_bidding', 'appointments_personnel', 'work_style', 'party_discipline', 'other', name='reportcategory', native_enum=False, length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('real_name', sa.Boolean(), nullable=False),
    sa.Column('due_order', sa.Date(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reporter_version', sa.Integer(), nullable=False),
    sa.Column('seen_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_inbox_entries_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_inbox_entries_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('staff_id', 'report_id', name=op.f('pk_inbox_entries')),
    sqlite_with_rowid=False,
    )
    op.create_index('ix_inbox_entries_due', 'inbox_entries', ['staff_id', 'due_order', 'received_on', 'office_id', 'status', 'kind', 'category', 'unit_id', 'assignee_id', 'version', 'seen_version', 'reporter_version', 'real_name'], unique=False)
    op.create_index('ix_inbox_entries_received', 'inbox_entries', ['staff_id', 'received_on', 'due_order', 'office_id', 'status', 'kind', 'category', 'unit_id', 'assignee_id', 'version', 'seen_version', 'reporter_version', 'real_name'], unique=False)
    op.create_index(op.f('ix_inbox_entries_report_id'), 'inbox_entries', ['report_id'], unique=False)
    op.create_index('ix_inbox_entries_status', 'inbox_entries', ['staff_id', 'status', 'due_order', 'received_on', 'office_id', 'kind', 'category', 'unit_id', 'assignee_id', 'version', 'seen_version', 'reporter_version', 'real_name'], unique=False)
    op.create_index('ix_case_labels_name', 'case_labels', ['name', 'report_id'], unique=False)
    op.execute(
        "INSERT INTO inbox_entries (staff_id, report_id, office_id, status, kind, category,"
        " unit_id, received_on, real_name, due_order, assignee_id, version,"
        " reporter_version, seen_version)"
        " SELECT rr.staff_id, r.id, r.office_id, r.status, r.kind, r.category, r.unit_id,"
        " r.received_on, r.real_name, COALESCE(c.next_due, '9999-12-31'),"
        " c.assignee_id, c.version, c.reporter_version, COALESCE(cv.seen_version, 0)"
        " FROM report_readers rr JOIN reports r ON r.id = rr.report_id"
        " JOIN cases c ON c.report_id = r.id"
        " LEFT JOIN case_views cv ON cv.report_id = r.id AND cv.staff_id = rr.staff_id"
        " WHERE NOT EXISTS (SELECT 1 FROM report_exclusions x"
        " WHERE x.report_id = rr.report_id AND x.staff_id = rr.staff_id)"
    )


def downgrade() -> None:
    op.drop_index('ix_case_labels_name', table_name='case_labels')
    op.drop_index('ix_inbox_entries_status', table_name='inbox_entries')
    op.drop_index(op.f('ix_inbox_entries_report_id'), table_name='inbox_entries')
    op.drop_index('ix_inbox_entries_received', table_name='inbox_entries')
    op.drop_index('ix_inbox_entries_due', table_name='inbox_entries')
    op.drop_table('inbox_entries')
