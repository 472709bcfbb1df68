from flask import Blueprint, render_template

from app.db import get_session
from app.public.page_cache import cached_page
from app.security.reader import current_reader
from app.services.disclosures import listings

bp = Blueprint("public", __name__)
LATEST = 8


@bp.get("/")
@cached_page()
def home():
    latest, _total = listings.list_public(get_session(), current_reader(), page=1, per_page=LATEST)
    return render_template("public/home.html", latest=latest)
