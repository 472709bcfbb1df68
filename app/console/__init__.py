"""The restricted console: staff sign-in and the staff areas."""

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.console import admin, auth, views
from app.disclosures import register_console as register_disclosures
from app.models import Role
from app.security.auth import current_staff

ROLE_NAMES = {
    Role.admin: _l("administrator"),
    Role.publisher: _l("publisher"),
    Role.approver: _l("approver"),
    Role.inspector: _l("inspector"),
    Role.office_head: _l("office head"),
    Role.auditor: _l("auditor"),
}


def register(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp)
    register_disclosures(app)

    @app.context_processor
    def staff_context() -> dict[str, object]:
        return {"staff": current_staff(), "role_names": ROLE_NAMES}
