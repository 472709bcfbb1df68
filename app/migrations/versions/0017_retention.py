"""retention: category periods and the statistics rows of purged reports

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:00:00.000000

``retention_periods`` (a report category's own period, keyed by its code as text) and
``purged_report_stats`` (app/models/retention.py): what the public statistics keep of a
purged report, with a random key and, on SQLite, no rowid.
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_periods',
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('years', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('years BETWEEN 1 AND 100', name=op.f('ck_retention_periods_years_in_range')),
    sa.PrimaryKeyConstraint('category', name=op.f('pk_retention_periods'))
    )
    op.create_table('purged_report_stats',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('quarter', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('subsidiary_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('concluded', sa.Boolean(), nullable=False),
    sa.Column('acknowledged_in_time', sa.Boolean(), nullable=True),
    sa.Column('answered_in_time', sa.Boolean(), nullable=True),
    sa.Column('disposal', sa.String(length=32), nullable=True),
    sa.CheckConstraint('quarter BETWEEN 1 AND 4', name=op.f('ck_purged_report_stats_quarter_in_range')),
    sa.ForeignKeyConstraint(['office_id'], ['discipline_offices.id'], name=op.f('fk_purged_report_stats_office_id_discipline_offices')),
    sa.ForeignKeyConstraint(['subsidiary_id'], ['units.id'], name=op.f('fk_purged_report_stats_subsidiary_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purged_report_stats')),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('purged_report_stats')
    op.drop_table('retention_periods')
