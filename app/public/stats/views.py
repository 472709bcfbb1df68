"""``/stats``: public statistics of tip handling, as a page with a chart and as CSV.

The figures come from ``services.reports.stats`` already suppressed (counts from 1 to 4 shown
as "<5", with a second cell hidden where one could be worked out from a total), so the page,
the chart and the CSV show exactly the same cells. Both are cached like other public pages:
the figures are as of yesterday, so they are the same all day for everyone.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.db import get_session
from app.form_choices import labels
from app.i18n import current_language, today
from app.public.page_cache import cached_page
from app.public.reports.forms import KINDS
from app.public.stats.chart import trend_svg
from app.services.reports import stats as report_stats
from app.web.reports import category_names

bp = Blueprint("stats", __name__)

DISPOSALS = {
    "talk_or_inquiry": _l("Talk or written inquiry"),
    "preliminary_verification": _l("Preliminary verification"),
    "shelved_pending_evidence": _l("Shelved pending evidence"),
    "closed_no_action": _l("Closed"),
    "sent_for_investigation": _l("Sent on to investigation"),
}


def quarter_label(quarter: report_stats.Quarter) -> str:
    return _("%(year)s Q%(number)s", year=quarter.year, number=quarter.number)


def share_text(found: report_stats.Share) -> str:
    return "—" if found.percent is None else f"{found.percent}%"


def _tables(found: report_stats.Stats) -> list[dict]:
    """The breakdowns, each with its heading and column names in the current language."""
    kinds = labels(KINDS)
    categories = category_names()
    locale = current_language()
    return [
        {
            "id": "kind",
            "heading": _("Reports received by kind"),
            "total": _("Reports received"),
            "names": [str(kinds[k]) for k in found.kinds.columns],
            "table": found.kinds,
        },
        {
            "id": "category",
            "heading": _("Reports received by category"),
            "total": _("Reports received"),
            "names": [categories.get(c, c) for c in found.categories.columns],
            "table": found.categories,
        },
        {
            "id": "subsidiary",
            "heading": _("Reports received by subsidiary"),
            "total": _("Reports received"),
            "names": [found.subsidiary_names[i].name(locale) for i in found.subsidiaries.columns],
            "table": found.subsidiaries,
        },
        {
            "id": "disposal",
            "heading": _("How disposals were decided (reports of misconduct)"),
            "total": _("Disposals decided"),
            "names": [str(DISPOSALS[d]) for d in found.disposals.columns],
            "table": found.disposals,
        },
    ]


def _compute() -> report_stats.Stats:
    return report_stats.compute(get_session(), today())


@bp.get("/stats")
@cached_page()
def index():
    found = _compute()
    chart = None
    if not found.empty:
        chart = trend_svg(
            found.quarters,
            quarter_label,
            title=_("Reports received and concluded per quarter"),
            desc=_(
                "Bar chart of the last quarters; counts from 1 to 4 are drawn as a dashed "
                "outline labelled <5. The table below gives the same figures."
            ),
            series=(_("Reports received"), _("Concluded")),
        )
    return render_template(
        "public/stats.html",
        stats=found,
        tables=_tables(found) if not found.empty else [],
        chart=chart,
        quarter_label=quarter_label,
        share_text=share_text,
        small=report_stats.SMALL,
        min_denominator=report_stats.MIN_DENOMINATOR,
    )


def csv_rows(found: report_stats.Stats) -> list[list[str]]:
    """The same cells as the page, one line per quarter and figure."""
    lines = [[_("Quarter"), _("Table"), _("Column"), _("Value")]]
    for row in found.quarters:
        quarter = quarter_label(row.quarter)
        overview = _("Overview")
        lines += [
            [quarter, overview, _("Reports received"), str(row.received)],
            [quarter, overview, _("In handling"), str(row.in_handling)],
            [quarter, overview, _("Concluded"), str(row.concluded)],
            [quarter, overview, _("Acknowledged within 7 days"), share_text(row.acknowledged)],
            [quarter, overview, _("Answered within 3 months"), share_text(row.answered)],
        ]
    for table in _tables(found) if not found.empty else []:
        for row in table["table"].rows:
            quarter = quarter_label(row.quarter)
            lines.append([quarter, table["heading"], table["total"], str(row.total)])
            for name, cell in zip(table["names"], row.cells, strict=True):
                lines.append([quarter, table["heading"], name, str(cell)])
    return lines


@bp.get("/stats.csv")
@cached_page()
def as_csv():
    out = io.StringIO()
    out.write("\ufeff")  # a byte order mark, so that spreadsheet programs read UTF-8
    csv.writer(out, lineterminator="\r\n").writerows(csv_rows(_compute()))
    return Response(out.getvalue(), mimetype="text/csv")
