"""The restricted console: one folder per URL area (session, publish, admin, audit)."""

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.console import admin, audit, cases, congress, publish, session, views
from app.models import Role
from app.security.auth import current_staff
from app.web.disclosures import register_helpers

ROLE_NAMES = {
    Role.admin: _l("administrator"),
    Role.publisher: _l("publisher"),
    Role.approver: _l("approver"),
    Role.inspector: _l("inspector"),
    Role.office_head: _l("office head"),
    Role.auditor: _l("auditor"),
    Role.congress_secretary: _l("workers' congress secretary"),
}


def register(app: Flask) -> None:
    session.register(app)
    app.register_blueprint(views.bp)
    admin.register(app)
    publish.register(app)
    audit.register(app)
    cases.register(app)
    congress.register(app)
    register_helpers(app, workflow=True)

    @app.context_processor
    def staff_context() -> dict[str, object]:
        return {"staff": current_staff(), "role_names": ROLE_NAMES}
