"""Staff accounts of the console and their roles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text
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
    congress_secretary = "congress_secretary"


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # A crypto.passwords record (an older account: a werkzeug hash until its next sign-in);
    # NO_PASSWORD until the account enrols with its code.
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
    # Where the daily digest goes (app/services/digest.py); none: the console's outbox only.
    email: Mapped[str | None] = mapped_column(String(254))
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


class ConsoleSession(Base):
    """A signed-in console session. The row is found by a hash of the id the browser holds, so
    a copy of the table gives no live cookie; deleting the row ends the session at once for
    every process and machine. ``wrapped_identity`` is the account's identity wrapped under a
    key that only the browser's cookie holds (``crypto.sealing.wrap_for_session``)."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Written at most once a minute; idle_until follows it.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idle_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    wrapped_identity: Mapped[bytes | None] = mapped_column(LargeBinary)

    staff: Mapped[StaffUser] = relationship()


class StaffEnrolment(Base):
    """A one-time enrolment code an administrator issued (only its hash), and the TOTP secret
    offered to the account while it enrols. The account has no password until it is used."""

    __tablename__ = "staff_enrolments"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A reset of an account that had a password (and perhaps a key), not a first enrolment.
    reset: Mapped[bool] = mapped_column(default=False)
    pending_totp_secret: Mapped[str | None] = mapped_column(String(64))

    staff: Mapped[StaffUser] = relationship()


class RecoveryCode(Base):
    """A one-time code that stands in for a TOTP code once (only its hash is kept)."""

    __tablename__ = "staff_recovery_codes"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
