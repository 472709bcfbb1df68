"""The follow-up page and receipt versions: a report whose stored version does not match its code
is refused with a clear page (never a 500), and one of an unknown version opens nothing."""

from __future__ import annotations

import pytest

from app.models import Report
from app.services.reports.submission import submit
from crypto.receipts import ReceiptParams, ReceiptVersions
from tests.helpers.forms import csrf_token
from tests.helpers.reports import PARAMS, TODAY, blob_store, build_org, form

REFUSED = {
    "zh": "此回执码对应的举报目前无法在本网站打开",
    "en": "This code belongs to a report that this site cannot open at present",
}


def _send(db, public_app, versions: ReceiptVersions = PARAMS) -> tuple[str, str]:
    pepper = public_app.config["RECEIPT_PEPPER"].encode()
    blobs = blob_store(db.app)
    with db() as session:
        build_org(session)
    with db() as session:
        report = form(what="车间主任虚报加班费。")
        done = submit(session, blobs, pepper, report, [], TODAY, versions)
    return done.code, done.report_id


def _enter(public_app, code: str, lang: str = "zh"):
    client = public_app.test_client()
    page = client.get(f"/report/follow-up?lang={lang}").get_data(as_text=True)
    answer = client.post(
        "/report/follow-up",
        data={"csrf_token": csrf_token(page), "code": code},
        follow_redirects=True,
    )
    return answer, client.get_cookie("portal_followup", path="/report/")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_code_whose_report_stores_another_version_gets_a_clear_page(db, public_app, lang):
    code, report_id = _send(db, public_app)
    with db() as session:
        session.get(Report, report_id).receipt_version = 9
    answer, cookie = _enter(public_app, code, lang)
    assert answer.status_code == 409
    page = answer.get_data(as_text=True)
    assert REFUSED[lang] in page and "车间主任" not in page
    assert cookie is None


def test_a_report_of_a_version_this_server_does_not_know_opens_nothing(db, public_app):
    newer = ReceiptVersions({**{v: PARAMS[v] for v in PARAMS}, 3: ReceiptParams(128, 1, 1)}, 3)
    code, _report_id = _send(db, public_app, newer)
    answer, cookie = _enter(public_app, code)
    assert answer.status_code == 200
    assert "此回执码无法打开任何举报" in answer.get_data(as_text=True)
    assert cookie is None
