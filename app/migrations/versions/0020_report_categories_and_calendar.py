"""report categories as data, and the working-day calendar's overrides by year

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 14:30:00.000000

``report_categories`` (app/models/reports.py ReportCategoryEntry): the categories of anonymous
reports, until now a fixed list in the code, seeded with the eight codes reports were filed
under and their Chinese and English names, so every report keeps its category. The reports'
``category`` columns (``reports``, ``inbox_entries``) stay as they are: VARCHAR(24) holding
the code, with no CHECK constraint (the list was never native nor constrained in the
database), so no table is rebuilt.

``work_calendar_days`` (app/models/calendar.py): the holidays and make-up workdays the
administrator keeps per year; a year with days here replaces the setting's and the package's.

Going down drops both tables; reports filed under a category added since keep its code.
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

# The names the categories had in the code (and its Chinese translation) before this revision.
CATEGORIES = [
    ('eight_point_rules', '违反中央八项规定精神（形式主义、官僚主义、享乐主义、奢靡之风）',
     'Violation of the eight-point rules (formalism, bureaucracy, hedonism, extravagance)'),
    ('bribery_embezzlement', '行贿受贿、贪污侵占', 'Bribery and embezzlement'),
    ('misuse_of_funds', '违规使用资金', 'Misuse of funds'),
    ('procurement_bidding', '采购与招投标', 'Procurement and bidding'),
    ('appointments_personnel', '选人用人', 'Appointments and personnel'),
    ('work_style', '工作作风', 'Work style'),
    ('party_discipline', '违反党的纪律', 'Party discipline'),
    ('other', '其他', 'Other'),
]


def upgrade() -> None:
    categories = op.create_table('report_categories',
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_report_categories'))
    )
    op.bulk_insert(categories, [
        {'code': code, 'name_zh': zh, 'name_en': en, 'position': position, 'active': True}
        for position, (code, zh, en) in enumerate(CATEGORIES)
    ])
    op.create_table('work_calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('holiday', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_work_calendar_days'))
    )
    op.create_index(op.f('ix_work_calendar_days_year'), 'work_calendar_days', ['year'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_work_calendar_days_year'), table_name='work_calendar_days')
    op.drop_table('work_calendar_days')
    op.drop_table('report_categories')
