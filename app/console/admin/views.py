from flask import Blueprint, render_template

from app.db import get_session
from app.models import Role
from app.security.auth import role_required
from app.services import units
from app.services.staff import list_users

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@role_required(Role.admin)
def index():
    session = get_session()
    roots = units.roots(session)
    return render_template("console/admin/index.html", users=list_users(session), roots=roots)
