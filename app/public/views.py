from flask import Blueprint, render_template

from app.db import get_session
from app.public.page_cache import cached_page
from app.security.reader import current_reader, vary_by_reader
from app.services.disclosures import listings

bp = Blueprint("public", __name__)
bp.after_request(vary_by_reader)  # the latest items shown depend on who reads
LATEST = 8


@bp.get("/")
@cached_page()
def home():
    latest, _total = listings.list_public(get_session(), current_reader(), page=1, per_page=LATEST)
    return render_template("public/home.html", latest=latest)
