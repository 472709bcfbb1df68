"""All mapped classes; importing this package registers them on ``Base.metadata``."""

from app.models.staff import Role, StaffRole, StaffUser
from app.models.units import DisciplineOffice, Unit, UnitKind

__all__ = ["DisciplineOffice", "Role", "StaffRole", "StaffUser", "Unit", "UnitKind"]
