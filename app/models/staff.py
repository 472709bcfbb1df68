"""Staff accounts of the console and their roles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow
from app.models.units import DisciplineOffice, Unit


class Role(enum.StrEnum):
    admin = "admin"
    publisher = "publisher"
    approver = "approver"
    inspector = "inspector"
    office_head = "office_head"
    auditor = "auditor"


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str] = mapped_column(String(64))
    # The last accepted TOTP time step: a code is accepted at most once.
    totp_last_step: Mapped[int] = mapped_column(default=0)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("discipline_offices.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Inspectors and office heads: the public half of their X25519 identity (reports are
    # encrypted to it) and the identity sealed under their password (crypto.SealedIdentity
    # text form). Never the unsealed key.
    age_recipient: Mapped[str | None] = mapped_column(String(100))
    sealed_identity: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    unit: Mapped[Unit | None] = relationship()
    office: Mapped[DisciplineOffice | None] = relationship()
    role_rows: Mapped[list[StaffRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> set[Role]:
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


class StaffRole(Base):
    __tablename__ = "staff_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, validate_strings=True), primary_key=True
    )

    user: Mapped[StaffUser] = relationship(back_populates="role_rows")
