from flask import Blueprint, render_template

from app.page_cache import cached_page

bp = Blueprint("public", __name__)


@bp.get("/")
@cached_page()
def home():
    from app.disclosures.views import latest_for_home

    return render_template("public/home.html", latest=latest_for_home())
