from flask import Blueprint, render_template

bp = Blueprint("public", __name__)


@bp.get("/")
def home():
    from app.disclosures.views import latest_for_home

    return render_template("public/home.html", latest=latest_for_home())
