from flask import Blueprint, render_template
from flask_babel import format_date

from app.console.digest import reason_text, state_text
from app.db import get_session
from app.models import Role, StaffUser
from app.resources import digest_settings
from app.security.auth import current_staff, role_required
from app.services import audit, digest, units
from app.services.staff import list_users

bp = Blueprint("admin", __name__, url_prefix="/admin")


def audited(detail: str, subject: StaffUser | None = None) -> None:
    """An administrator's change on the audit trail, in its transaction (never a secret)."""
    audit.record(
        get_session(),
        audit.AuditAction.admin_change,
        actor=current_staff(),
        subject=subject,
        detail=detail[:100],
    )


@bp.get("/")
@role_required(Role.admin)
def index():
    session = get_session()
    roots = units.roots(session)
    return render_template("console/admin/index.html", users=list_users(session), roots=roots)


@bp.get("/outbox")
@role_required(Role.admin)
def outbox():
    """The daily digest's outbox: to whom, which day, sent or not and why (never the text)."""
    messages = digest.outbox(get_session(), limit=500)
    return render_template(
        "console/admin/outbox.html",
        messages=messages,
        state_text=state_text,
        reason_text=reason_text,
        mail_configured=digest_settings().mail.configured,
        format_date=format_date,
    )
