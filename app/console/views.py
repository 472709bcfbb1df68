from flask import Blueprint, render_template

from app.security.auth import login_required

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def dashboard():
    return render_template("console/dashboard.html")
