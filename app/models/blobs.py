"""Blobs kept in the database itself (``BLOB_STORE = "postgresql"``, app/services/pg_blobs.py).

One ``StoredBlobRow`` per blob (its random key, size and SHA-256) and its bytes in
``BlobChunk`` rows of a fixed size, numbered from 0. Neither has a time column: a blob is
dated by nothing but the rows that point to it (a report's ``received_on``). On SQLite the
tables exist too, empty: the filesystem keeps the blobs there.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.reports import NO_ROWID


class StoredBlobRow(Base):
    """A finished blob: written in the same transaction as the rows that point to it."""

    __tablename__ = "blobs"
    __table_args__ = (NO_ROWID,)

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class BlobChunk(Base):
    """``CHUNK_BYTES`` of a blob (the last one fewer), number ``seq`` from the start."""

    __tablename__ = "blob_chunks"
    __table_args__ = (NO_ROWID,)

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
