"""The organisation: a tree of units, some of which have a discipline office."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow


class UnitKind(enum.StrEnum):
    enterprise = "enterprise"
    subsidiary = "subsidiary"
    department = "department"
    workshop = "workshop"


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(
        Enum(UnitKind, native_enum=False, length=20, validate_strings=True)
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # A closed unit keeps its history (reports, disclosures, staff) but is offered for
    # nothing new: no new report, disclosure, catalogue duty or staff account.
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent", order_by="Unit.code")
    office: Mapped[DisciplineOffice | None] = relationship(back_populates="unit")

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh

    @property
    def closed(self) -> bool:
        return self.closed_on is not None

    def ancestors(self) -> list[Unit]:
        """This unit's parent, grandparent, ... up to the enterprise."""
        chain: list[Unit] = []
        unit = self.parent
        while unit is not None:
            chain.append(unit)
            unit = unit.parent
        return chain


class DisciplineOffice(Base):
    __tablename__ = "discipline_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    # The office's recovery identity: only its public key is kept; the private key exists
    # only as K-of-N SLIP-39 shares held by officers (``portal keys ceremony``).
    recovery_recipient: Mapped[str | None] = mapped_column(String(100))
    recovery_threshold: Mapped[int | None]
    recovery_shares: Mapped[int | None]
    recovery_set_id: Mapped[int | None]  # the SLIP-39 identifier shared by the set's shares
    recovery_made_on: Mapped[date | None] = mapped_column(Date)
    # The holders of the shares, one name a line in share order (never a share).
    recovery_holders: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="office")

    @property
    def holders(self) -> list[str]:
        """The names of the recovery shares' holders, in share order (none if not named)."""
        return [name for name in (self.recovery_holders or "").split("\n") if name]

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh
