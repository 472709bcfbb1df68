"""blobs kept in the database: ``blobs`` and ``blob_chunks``

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 17:30:00.000000

``blobs`` (app/models/blobs.py StoredBlobRow): one row per blob kept in PostgreSQL (its random
key, size and SHA-256); ``blob_chunks`` (BlobChunk): its bytes, 256 KiB a row, numbered from 0.
Neither has a time column. The tables are made on SQLite too, and stay empty there (the
filesystem keeps the blobs). Nothing is moved here: blobs already in the filesystem are moved
by ``portal blobs migrate --to postgresql`` (docs/operations.md), which verifies each one.

Going down drops both tables: move the blobs to the filesystem first
(``portal blobs migrate --to filesystem``), or they are lost.
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blobs',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_blobs')),
    sqlite_with_rowid=False,
    )
    op.create_table('blob_chunks',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'seq', name=op.f('pk_blob_chunks')),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('blob_chunks')
    op.drop_table('blobs')
