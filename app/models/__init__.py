"""All mapped classes; importing this package registers them on ``Base.metadata``."""

from app.models import search  # noqa: F401  the search table's DDL, on the metadata
from app.models.disclosures import (
    Action,
    CatalogueEntry,
    Disclosure,
    DisclosureAttachment,
    DisclosureCategory,
    DisclosureQuestion,
    DisclosureRevision,
    DisclosureStep,
    Domain,
    LogCheckpoint,
    Period,
    PublicState,
    PublicVersion,
    PublishedFile,
    QuestionState,
    Scope,
    StepAction,
    WorkState,
)
from app.models.staff import Role, StaffRole, StaffUser
from app.models.units import DisciplineOffice, Unit, UnitKind

__all__ = [
    "Action",
    "CatalogueEntry",
    "DisciplineOffice",
    "Disclosure",
    "DisclosureAttachment",
    "DisclosureCategory",
    "DisclosureQuestion",
    "DisclosureRevision",
    "DisclosureStep",
    "Domain",
    "LogCheckpoint",
    "Period",
    "PublicState",
    "PublicVersion",
    "PublishedFile",
    "QuestionState",
    "Role",
    "Scope",
    "StaffRole",
    "StaffUser",
    "StepAction",
    "Unit",
    "UnitKind",
    "WorkState",
]
