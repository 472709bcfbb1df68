from flask import Blueprint, render_template

from app.db import get_session
from app.models import Role
from app.security.auth import current_staff, login_required
from app.services import audit_listing

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def dashboard():
    session = get_session()
    staff = current_staff()
    auditor = None
    if staff.has_role(Role.auditor):  # the auditor's work: the trail's latest state
        auditor = {
            "checkpoints": audit_listing.recent_checkpoints(session, 5),
            "entries": audit_listing.recent_entries(session, 10),
        }
    return render_template("console/dashboard.html", auditor=auditor)
