"""The report form against the report service: the same limits, said once, and one check and
one routing for each report sent."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable

import pytest

from app.services.reports import routing, submission
from app.services.reports.submission import TEXT_LIMITS
from tests.helpers.forms import csrf_token
from tests.helpers.report_client import REPORT_FIELDS
from tests.helpers.report_pages import noscript_pass
from tests.helpers.reports import stored_blobs

PLACE = "铸造分厂熔炼车间东侧废钢堆场"
WHAT = "熔炼车间采购废钢时收受回扣。"
TOO_LONG = {
    "zh": "字段长度不能超过 200 个字符。",
    "en": "Field cannot be longer than 200 characters.",
}


def _form(client, **extra) -> dict:
    page = client.get("/report/new").get_data(as_text=True)
    fields = {"csrf_token": csrf_token(page), "noscript_pass": noscript_pass(page)}
    return {**fields, **REPORT_FIELDS, "what": WHAT, **extra}


def _tag(page: str, name: str) -> str:
    found = re.search(rf'<(?:textarea|input)[^>]*name="{name}"[^>]*>', page)
    assert found, name
    return found.group()


def test_each_text_field_offers_the_length_the_service_takes(public_app):
    page = public_app.test_client().get("/report/new").get_data(as_text=True)
    for name, limit in TEXT_LIMITS.items():
        assert f'maxlength="{limit}"' in _tag(page, name), name


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_place_of_200_characters_is_sent_and_one_more_comes_back_marked_and_kept(
    demo, public_app, lang
):
    client = public_app.test_client()
    client.get(f"/report/new?lang={lang}")
    at_limit = (PLACE * 20)[:200]
    sent = client.post("/report/new", data=_form(client, where=at_limit), follow_redirects=True)
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)

    refused = client.post("/report/new", data=_form(client, where=at_limit + "东"))
    assert refused.status_code == 303
    shown = client.get(refused.headers["Location"])
    assert shown.status_code == 400
    page = shown.get_data(as_text=True)
    where = page[page.index('<label for="where">') :]
    where = where[: where.index("</div>")]
    assert TOO_LONG[lang] in where
    other = "en" if lang == "zh" else "zh"
    assert TOO_LONG[other] not in page
    # What was typed comes back, up to the length the field takes, with the rest of the form.
    assert f'value="{at_limit}"' in _tag(where, "where")
    assert WHAT in page


def test_a_text_at_its_limit_with_line_breaks_sent_as_crlf_is_taken(demo, public_app):
    # The browser's maxlength counts a line break as one character and sends it as CRLF.
    client = public_app.test_client()
    lines = ["第一行：废钢采购", "第二行：回扣每吨两百元", ""] * 2
    persons = ("\r\n".join(lines) * 200)[: TEXT_LIMITS["persons"] + 120]
    as_browser_counts = persons.replace("\r\n", "\n")[: TEXT_LIMITS["persons"]]
    sent_text = as_browser_counts.replace("\n", "\r\n")
    assert len(sent_text) > TEXT_LIMITS["persons"]
    sent = client.post("/report/new", data=_form(client, persons=sent_text), follow_redirects=True)
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)


def _calls(monkeypatch: pytest.MonkeyPatch, function: Callable) -> list[tuple]:
    """Count the calls of ``function``, made wherever a module of the app holds it."""
    calls: list[tuple] = []

    def counted(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    for module in list(sys.modules.values()):
        if module is not None and module.__name__.startswith("app."):
            for name, value in list(vars(module).items()):
                if value is function:
                    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_report_sent_is_checked_and_routed_once(demo, public_app, monkeypatch):
    client = public_app.test_client()
    data = _form(client, where=PLACE)
    checks = _calls(monkeypatch, submission.check_fields)
    routes = _calls(monkeypatch, routing.route_report)
    sent = client.post("/report/new", data=data, follow_redirects=True)
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)
    assert len(checks) == 1 and len(routes) == 1


def _blob_files(app) -> list[str]:
    """The keys of the blobs stored (files, or PostgreSQL's rows)."""
    return sorted(stored_blobs(app))


def _with_a_file(data: dict) -> dict:
    return {**data, "attachments": [(io.BytesIO("采购合同".encode() * 1000), "采购合同.txt")]}


NOT_STORED = {
    "bot": {"leave_empty": "x"},
    "inspectors shown": {"show_inspectors": "1"},
    "form refused": {"what": ""},
    "service refused": {"unit": "NO-SUCH"},
}


@pytest.mark.parametrize("changes", NOT_STORED.values(), ids=NOT_STORED)
def test_the_files_of_a_report_not_stored_are_not_kept(demo, public_app, changes):
    client = public_app.test_client()
    data = _with_a_file(_form(client, **changes))
    response = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    assert "/report/receipt" not in response.headers["Location"]
    assert _blob_files(public_app) == []


def test_the_files_of_a_report_past_the_client_s_limit_are_not_kept(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    client = app.test_client()
    client.post("/report/new", data=_form(client))  # stored: the limit is reached
    kept = _blob_files(app)
    data = _with_a_file(_form(client))
    response = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert client.get(response.headers["Location"]).status_code == 429
    assert _blob_files(app) == kept


def test_a_report_whose_unit_is_closed_as_it_is_stored_comes_back_with_everything_typed(
    demo, public_app, monkeypatch
):
    from sqlalchemy import func, select

    from app.i18n import today
    from app.models import Report
    from app.public.reports import gate
    from app.services import units

    database = public_app.extensions["portal.db"]
    real_count = gate.count_stored

    def closed_meanwhile(*args, **kwargs):
        """The administrator closes the unit after the form was checked, before it is stored."""
        with database.session() as session:
            units.close_unit(session, units.by_code(session, "MCH-W1"), today())
            session.commit()
        return real_count(*args, **kwargs)

    def stored() -> int:
        with database.session() as session:
            return session.scalar(select(func.count()).select_from(Report))

    before, files = stored(), _blob_files(public_app)
    monkeypatch.setattr(gate, "count_stored", closed_meanwhile)
    client = public_app.test_client()
    data = _form(client, persons="采购部 赵某", what="食堂采购虚报单价，每斤多报五元。")
    response = client.post("/report/new", data=data, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "请从选项中选择。" in page  # on the unit, as for a unit closed before
    assert "采购部 赵某" in page and "食堂采购虚报单价，每斤多报五元。" in page
    assert stored() == before
    assert _blob_files(public_app) == files
