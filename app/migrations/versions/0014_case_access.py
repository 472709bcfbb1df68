"""case access: recusals and transfers of cases

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 09:00:00.000000

``case_recusals``: staff who declared a conflict in a case, never to read it again.
``case_transfers``: the line an office keeps of a case it passed up, and to which office.
New tables only: ``reports`` is not altered (on SQLite a rebuild of it would cascade).
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_recusals',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('recused_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_case_recusals_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_case_recusals_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('report_id', 'staff_id', name=op.f('pk_case_recusals')),
    sqlite_with_rowid=False,
    )
    op.create_table('case_transfers',
    sa.Column('report_id', sa.String(length=32), nullable=False),
    sa.Column('from_office_id', sa.Integer(), nullable=False),
    sa.Column('to_office_id', sa.Integer(), nullable=False),
    sa.Column('transferred_on', sa.Date(), nullable=False),
    sa.Column('by_staff_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['by_staff_id'], ['staff_users.id'], name=op.f('fk_case_transfers_by_staff_id_staff_users')),
    sa.ForeignKeyConstraint(['from_office_id'], ['discipline_offices.id'], name=op.f('fk_case_transfers_from_office_id_discipline_offices')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_case_transfers_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_office_id'], ['discipline_offices.id'], name=op.f('fk_case_transfers_to_office_id_discipline_offices')),
    sa.PrimaryKeyConstraint('report_id', 'from_office_id', name=op.f('pk_case_transfers')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_case_transfers_from_office_id'), 'case_transfers', ['from_office_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_case_transfers_from_office_id'), table_name='case_transfers')
    op.drop_table('case_transfers')
    op.drop_table('case_recusals')
