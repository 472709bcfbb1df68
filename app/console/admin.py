from flask import Blueprint, render_template
from sqlalchemy import select

from app.db import get_session
from app.models import Role, Unit
from app.security.auth import role_required
from app.services.staff import list_users

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@role_required(Role.admin)
def index():
    session = get_session()
    units = list(session.scalars(select(Unit).where(Unit.parent_id.is_(None))))
    return render_template("console/admin.html", users=list_users(session), roots=units)
