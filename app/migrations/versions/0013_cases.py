"""cases: how an office handles each report (statuses, deadlines, labels, notes, decisions)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 09:00:00.000000

``reports.status`` moves to the reporting-handling rules: ``in_progress`` becomes
``under_assessment``, and a report may now also be ``disposal_decided`` or (criticism and
suggestion) ``answered``. Every report gets its case row; ``next_due`` is the earliest date
still owed (the acknowledgement while received, the feedback until concluded). Reports received
before this revision owe no real-name notices (the 15 working days are counted from now on).

Tables only: ``reports`` is never rebuilt (see 0009: on SQLite a rebuild cascades deletes to
its files and messages); its new index is made and dropped in place.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

DISPOSALS = (
    'talk_or_inquiry', 'preliminary_verification', 'shelved_pending_evidence',
    'closed_no_action', 'sent_for_investigation',
)


def _disposal() -> sa.Enum:
    return sa.Enum(*DISPOSALS, name='disposal', native_enum=False, length=32)


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('disposal', _disposal(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('take_up_notice_by', sa.Date(), nullable=True),
    sa.Column('take_up_told_on', sa.Date(), nullable=True),
    sa.Column('concluded_on', sa.Date(), nullable=True),
    sa.Column('conclusion_notice_by', sa.Date(), nullable=True),
    sa.Column('outcome_told_on', sa.Date(), nullable=True),
    sa.Column('next_due', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('reporter_version', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff_users.id'], name=op.f('fk_cases_assignee_id_staff_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_cases_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_cases')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_cases_assignee_id'), 'cases', ['assignee_id'], unique=False)
    op.create_index(op.f('ix_cases_next_due'), 'cases', ['next_due'], unique=False)
    op.create_table('case_labels',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['cases.report_id'], name=op.f('fk_case_labels_report_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'name', name=op.f('pk_case_labels')),
    sqlite_with_rowid=False,
    )
    op.create_table('case_views',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('seen_version', sa.Integer(), nullable=False),
    sa.Column('seen_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['cases.report_id'], name=op.f('fk_case_views_report_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_case_views_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('report_id', 'staff_id', name=op.f('pk_case_views')),
    sqlite_with_rowid=False,
    )
    op.create_table('case_notes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.Column('header', sa.LargeBinary(), nullable=False),
    sa.Column('blob_key', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], name=op.f('fk_case_notes_author_id_staff_users')),
    sa.ForeignKeyConstraint(['report_id'], ['cases.report_id'], name=op.f('fk_case_notes_report_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes')),
    sa.UniqueConstraint('blob_key', name=op.f('uq_case_notes_blob_key')),
    sa.UniqueConstraint('report_id', 'seq', name=op.f('uq_case_notes_report_id')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_case_notes_report_id'), 'case_notes', ['report_id'], unique=False)
    op.create_table('case_decisions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('disposal', _disposal(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'recorded', 'withdrawn', name='decisionstate', native_enum=False, length=32), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=False),
    sa.Column('proposed_on', sa.Date(), nullable=False),
    sa.Column('recorded_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['proposed_by'], ['staff_users.id'], name=op.f('fk_case_decisions_proposed_by_staff_users')),
    sa.ForeignKeyConstraint(['report_id'], ['cases.report_id'], name=op.f('fk_case_decisions_report_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_decisions')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_case_decisions_report_id'), 'case_decisions', ['report_id'], unique=False)
    op.create_index(op.f('ix_case_decisions_state'), 'case_decisions', ['state'], unique=False)
    # One pending decision per case.
    op.create_index(
        'uq_case_decisions_pending', 'case_decisions', ['report_id'], unique=True,
        postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"),
    )
    op.create_table('case_decision_members',
    sa.Column('decision_id', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['case_decisions.id'], name=op.f('fk_case_decision_members_decision_id_case_decisions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_case_decision_members_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('decision_id', 'staff_id', name=op.f('pk_case_decision_members')),
    sqlite_with_rowid=False,
    )
    # Not batch operations: indexes are made in place on both databases.
    op.create_index('ix_reports_office_id_status', 'reports', ['office_id', 'status'], unique=False)
    op.create_index(op.f('ix_report_readers_staff_id'), 'report_readers', ['staff_id'], unique=False)

    op.execute(sa.text(
        "UPDATE reports SET status = 'under_assessment' WHERE status = 'in_progress'"
    ))
    op.execute(sa.text(
        "INSERT INTO cases (report_id, next_due, version, reporter_version) "
        "SELECT id, CASE status WHEN 'received' THEN acknowledge_by "
        "WHEN 'concluded' THEN NULL ELSE feedback_by END, 1, 0 FROM reports"
    ))


def downgrade() -> None:
    op.execute(sa.text(
        "UPDATE reports SET status = 'in_progress' "
        "WHERE status IN ('under_assessment', 'disposal_decided')"
    ))
    op.execute(sa.text("UPDATE reports SET status = 'concluded' WHERE status = 'answered'"))
    op.drop_index(op.f('ix_report_readers_staff_id'), table_name='report_readers')
    op.drop_index('ix_reports_office_id_status', table_name='reports')
    op.drop_table('case_decision_members')
    op.drop_index('uq_case_decisions_pending', table_name='case_decisions')
    op.drop_index(op.f('ix_case_decisions_state'), table_name='case_decisions')
    op.drop_index(op.f('ix_case_decisions_report_id'), table_name='case_decisions')
    op.drop_table('case_decisions')
    op.drop_index(op.f('ix_case_notes_report_id'), table_name='case_notes')
    op.drop_table('case_notes')
    op.drop_table('case_views')
    op.drop_table('case_labels')
    op.drop_index(op.f('ix_cases_next_due'), table_name='cases')
    op.drop_index(op.f('ix_cases_assignee_id'), table_name='cases')
    op.drop_table('cases')
