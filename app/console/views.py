"""The console's first page: each role's work. Inspectors and office heads see their cases due
soon or overdue and the reporters' new replies; office heads also the disposal decisions
waiting for another member's confirmation."""

from flask import Blueprint, render_template
from flask_babel import format_date

from app.console.cases.words import DISPOSAL_NAMES, STATUS_NAMES
from app.db import get_session
from app.i18n import today
from app.models import Role
from app.resources import deadline_rules
from app.security.auth import current_staff, login_required
from app.services.cases import decisions, inbox
from app.services.cases.readers import may_handle

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def dashboard():
    session = get_session()
    staff = current_staff()
    context: dict = {}
    if may_handle(staff):
        now = today()
        context.update(
            handles_cases=True,
            due=inbox.due_soon(session, staff, now, deadline_rules().due_soon_days),
            due_soon_days=deadline_rules().due_soon_days,
            replies=inbox.new_replies(session, staff, now),
            waiting=decisions.waiting_for(session, staff)
            if staff.has_role(Role.office_head)
            else [],
            status_names=STATUS_NAMES,
            disposal_names=DISPOSAL_NAMES,
            format_date=format_date,
        )
    return render_template("console/dashboard.html", **context)
