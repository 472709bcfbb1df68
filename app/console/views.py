"""The console's first page: each role's work, one block per role.

Each block has its own context here and its own template under ``console/dashboard/``, so a
role's block is added or changed without touching another's. Inspectors and office heads see
their cases due soon or overdue and the reporters' new replies; office heads also the disposal
decisions waiting for another member's confirmation.
"""

from flask import Blueprint, render_template
from flask_babel import format_date

from app.console.cases.words import DISPOSAL_NAMES, STATUS_NAMES
from app.db import get_session
from app.i18n import today
from app.models import CongressStatus, Role
from app.resources import deadline_rules
from app.security.auth import current_staff, login_required
from app.services import audit_listing, keys
from app.services.cases import decisions, inbox
from app.services.cases.readers import may_handle
from app.services.disclosures import congress
from app.services.disclosures import dashboard as disclosure_work

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def dashboard():
    session = get_session()
    staff = current_staff()
    blocks: dict[str, object] = {}
    if may_handle(staff):
        now = today()
        rules = deadline_rules()
        blocks["cases"] = {
            "due": inbox.due_soon(session, staff, now, rules.due_soon_days),
            "due_soon_days": rules.due_soon_days,
            "replies": inbox.new_replies(session, staff, now),
            "waiting": decisions.waiting_for(session, staff)
            if staff.has_role(Role.office_head)
            else [],
        }
    if staff.has_role(Role.publisher):
        blocks["publisher_work"] = disclosure_work.publisher_work(session, staff)
    if staff.has_role(Role.approver):
        blocks["approvals"] = disclosure_work.waiting_for_approval(session, staff)
    if staff.has_role(Role.admin):
        blocks["key_overview"] = keys.keys_overview(session)
    if staff.has_role(Role.congress_secretary):
        blocks["congress_work"] = [
            d
            for d in congress.for_secretary(session, staff)
            if d.congress_status != CongressStatus.reviewed
        ]
    if staff.has_role(Role.auditor):  # the trail's latest state
        blocks["auditor"] = {
            "checkpoints": audit_listing.recent_checkpoints(session, 5),
            "entries": audit_listing.recent_entries(session, 10),
        }
    return render_template(
        "console/dashboard.html",
        status_names=STATUS_NAMES,
        disposal_names=DISPOSAL_NAMES,
        format_date=format_date,
        **blocks,
    )
