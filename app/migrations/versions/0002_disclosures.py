"""disclosures: categories, catalogue, items, revisions, questions, log checkpoints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:41:15.184031
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disclosure_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('domain', sa.Enum('factory', 'party', name='domain', native_enum=False, length=20), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_disclosure_categories_code'))
    )
    op.create_table('disclosure_log_checkpoints',
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_disclosure_log_checkpoints'))
    )
    op.create_table('disclosure_catalogue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Enum('monthly', 'quarterly', 'half_yearly', 'yearly', name='period', native_enum=False, length=20), nullable=False),
    sa.Column('due_days', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('everyone', 'unit', 'party', name='scope', native_enum=False, length=20), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['disclosure_categories.id'], name=op.f('fk_disclosure_catalogue_category_id_disclosure_categories')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_disclosure_catalogue_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_catalogue')),
    sa.UniqueConstraint('category_id', 'unit_id', name='uq_disclosure_catalogue')
    )
    with op.batch_alter_table('disclosure_catalogue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_catalogue_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosure_catalogue_unit_id'), ['unit_id'], unique=False)

    op.create_table('disclosures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('public_state', sa.Enum('unpublished', 'published', 'retracted', name='publicstate', native_enum=False, length=20), nullable=False),
    sa.Column('work_state', sa.Enum('none', 'draft', 'in_review', 'returned', 'scheduled', name='workstate', native_enum=False, length=20), nullable=False),
    sa.Column('work_action', sa.Enum('publish', 'amend', 'retract', name='action', native_enum=False, length=20), nullable=False),
    sa.Column('work_author_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('everyone', 'unit', 'party', name='scope', native_enum=False, length=20), nullable=False),
    sa.Column('period_key', sa.String(length=10), nullable=True),
    sa.Column('scheduled_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revised_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retracted_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revision_count', sa.Integer(), nullable=False),
    sa.Column('public_title', sa.String(length=300), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], name=op.f('fk_disclosures_author_id_staff_users')),
    sa.ForeignKeyConstraint(['category_id'], ['disclosure_categories.id'], name=op.f('fk_disclosures_category_id_disclosure_categories')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_disclosures_unit_id_units')),
    sa.ForeignKeyConstraint(['work_author_id'], ['staff_users.id'], name=op.f('fk_disclosures_work_author_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosures'))
    )
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosures_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosures_category_id'), ['category_id'], unique=False)
        batch_op.create_index('ix_disclosures_due', ['work_state', 'scheduled_at'], unique=False)
        batch_op.create_index('ix_disclosures_listing', ['public_state', 'published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosures_period_key'), ['period_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosures_unit_id'), ['unit_id'], unique=False)

    op.create_table('disclosure_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('disclosure_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blob_key', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosures.id'], name=op.f('fk_disclosure_attachments_disclosure_id_disclosures')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['staff_users.id'], name=op.f('fk_disclosure_attachments_uploaded_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_attachments')),
    sa.UniqueConstraint('blob_key', name=op.f('uq_disclosure_attachments_blob_key'))
    )
    with op.batch_alter_table('disclosure_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_attachments_disclosure_id'), ['disclosure_id'], unique=False)

    op.create_table('disclosure_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('disclosure_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('asked_on', sa.Date(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'published', 'rejected', name='questionstate', native_enum=False, length=20), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by_id'], ['staff_users.id'], name=op.f('fk_disclosure_questions_answered_by_id_staff_users')),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosures.id'], name=op.f('fk_disclosure_questions_disclosure_id_disclosures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_questions'))
    )
    with op.batch_alter_table('disclosure_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_questions_disclosure_id'), ['disclosure_id'], unique=False)

    op.create_table('disclosure_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('disclosure_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('publish', 'amend', 'retract', name='action', native_enum=False, length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('category_code', sa.String(length=40), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.Enum('everyone', 'unit', 'party', name='scope', native_enum=False, length=20), nullable=False),
    sa.Column('period_key', sa.String(length=10), nullable=True),
    sa.Column('published_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attachments_json', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['approver_id'], ['staff_users.id'], name=op.f('fk_disclosure_revisions_approver_id_staff_users')),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], name=op.f('fk_disclosure_revisions_author_id_staff_users')),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosures.id'], name=op.f('fk_disclosure_revisions_disclosure_id_disclosures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_revisions')),
    sa.UniqueConstraint('disclosure_id', 'number', name='uq_disclosure_revision'),
    sa.UniqueConstraint('log_index', name=op.f('uq_disclosure_revisions_log_index'))
    )
    with op.batch_alter_table('disclosure_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_revisions_disclosure_id'), ['disclosure_id'], unique=False)

    op.create_table('disclosure_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('disclosure_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['staff_users.id'], name=op.f('fk_disclosure_steps_actor_id_staff_users')),
    sa.ForeignKeyConstraint(['disclosure_id'], ['disclosures.id'], name=op.f('fk_disclosure_steps_disclosure_id_disclosures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_steps'))
    )
    with op.batch_alter_table('disclosure_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_steps_disclosure_id'), ['disclosure_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('disclosure_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_steps_disclosure_id'))

    op.drop_table('disclosure_steps')
    with op.batch_alter_table('disclosure_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_revisions_disclosure_id'))

    op.drop_table('disclosure_revisions')
    with op.batch_alter_table('disclosure_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_questions_disclosure_id'))

    op.drop_table('disclosure_questions')
    with op.batch_alter_table('disclosure_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_attachments_disclosure_id'))

    op.drop_table('disclosure_attachments')
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosures_unit_id'))
        batch_op.drop_index(batch_op.f('ix_disclosures_period_key'))
        batch_op.drop_index('ix_disclosures_listing')
        batch_op.drop_index('ix_disclosures_due')
        batch_op.drop_index(batch_op.f('ix_disclosures_category_id'))
        batch_op.drop_index(batch_op.f('ix_disclosures_author_id'))

    op.drop_table('disclosures')
    with op.batch_alter_table('disclosure_catalogue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_catalogue_unit_id'))
        batch_op.drop_index(batch_op.f('ix_disclosure_catalogue_category_id'))

    op.drop_table('disclosure_catalogue')
    op.drop_table('disclosure_log_checkpoints')
    op.drop_table('disclosure_categories')
