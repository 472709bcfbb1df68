from flask import Blueprint, render_template
from flask_babel import format_date

from app.console.digest import reason_text, state_text
from app.db import get_session
from app.models import Role
from app.resources import digest_settings
from app.security.auth import role_required
from app.services import digest, units
from app.services.staff import list_users

bp = Blueprint("admin", __name__, url_prefix="/admin")


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
