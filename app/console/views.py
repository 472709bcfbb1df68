"""The console's first page: each role's work, one block per role.

Each block has its own context here and its own template under ``console/dashboard/``, so a
role's block is added or changed without touching another's.
"""

from flask import Blueprint, render_template

from app.db import get_session
from app.models import Role
from app.security.auth import current_staff, login_required
from app.services import audit_listing, keys
from app.services.disclosures import dashboard as disclosure_work

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def dashboard():
    session = get_session()
    staff = current_staff()
    blocks: dict[str, object] = {}
    if staff.has_role(Role.publisher):
        blocks["publisher_work"] = disclosure_work.publisher_work(session, staff)
    if staff.has_role(Role.approver):
        blocks["approvals"] = disclosure_work.waiting_for_approval(session, staff)
    if staff.has_role(Role.admin):
        blocks["key_overview"] = keys.keys_overview(session)
    if staff.has_role(Role.auditor):  # the trail's latest state
        blocks["auditor"] = {
            "checkpoints": audit_listing.recent_checkpoints(session, 5),
            "entries": audit_listing.recent_entries(session, 10),
        }
    return render_template("console/dashboard.html", **blocks)
