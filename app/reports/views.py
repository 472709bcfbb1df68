"""Anonymous reports on the public site: safety page, form, receipt, follow-up.

Every page here is sent with ``Cache-Control: no-store``: workshop computers are shared, and
nothing of a report, its receipt code or its thread may stay in the browser's cache.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from app.db import get_session
from app.i18n import current_language
from app.reports.forms import ReportForm
from app.services import units

bp = Blueprint("reports", __name__, url_prefix="/report")


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/")
def safety():
    return render_template("reports/safety.html")


def _size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def render_form(form: ReportForm, status: int = 200, **context):
    config = current_app.config
    context.setdefault("inspectors", [])
    pow_challenge, pow_bits = current_app.extensions["portal.report_pow"].issue()
    return render_template(
        "reports/new.html",
        form=form,
        units=units.roots(get_session()),
        lang=current_language(),
        max_files=config["REPORT_MAX_FILES"],
        max_size=_size_text(config["REPORT_MAX_BYTES"]),
        pow_challenge=pow_challenge,
        pow_bits=pow_bits,
        **context,
    ), status


@bp.get("/new")
def new():
    return render_form(ReportForm())


@bp.get("/follow-up")
def follow_up():
    from app.reports.forms import ReceiptForm

    return render_template("reports/follow_up.html", form=ReceiptForm())
