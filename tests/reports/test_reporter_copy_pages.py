"""The reporter's copy through the public pages: the form's tick (kept when the form comes back),
the receipt and the safety page saying what the code opens, and the follow-up page showing the
report as sent, or saying that no copy was kept. Sent as a browser without script sends it."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

from sqlalchemy import select

from app.models import EnvelopeRole, Report
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import CANARY, post_report, report_form_data

FILE_NAME = "挪用经费的收据（第一张）.txt"
FILE_BYTES = "收据：班组活动经费 2000 元，用于主任家宴。".encode()


def _copy_box(page: str) -> str:
    found = re.search(r'<input[^>]*name="reporter_copy"[^>]*>', page)
    assert found, "no copy choice on the form"
    return found.group(0)


def _send(client, **extra):
    data = report_form_data(client, **extra)
    data["attachments"] = [(io.BytesIO(FILE_BYTES), FILE_NAME)]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    found = re.search(r'<p class="receipt-code"[^>]*>((?:<span>\d{4}</span>){5})</p>', page)
    assert found, page[:2000]
    return "".join(re.findall(r"\d{4}", found.group(1))), page


def _follow_up(client, code: str) -> str:
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    entered = client.post("/report/follow-up", data={"csrf_token": token, "code": code})
    assert entered.status_code == 303
    return client.get("/report/follow-up").get_data(as_text=True)


def test_the_copy_is_offered_ticked_and_a_form_sent_back_keeps_the_choice(demo, public_app):
    client = public_app.test_client()
    assert "checked" in _copy_box(client.get("/report/new").get_data(as_text=True))
    # Sent back for a missing text: what was chosen comes back, ticked or not.
    unticked = post_report(client, report_form_data(client, what=""))
    assert unticked.status_code == 400
    assert "checked" not in _copy_box(unticked.get_data(as_text=True))
    ticked = post_report(client, report_form_data(client, what="", reporter_copy="y"))
    assert ticked.status_code == 400
    assert "checked" in _copy_box(ticked.get_data(as_text=True))
    # A new form after that is ticked again.
    assert "checked" in _copy_box(client.get("/report/new").get_data(as_text=True))


def test_with_the_copy_the_code_alone_shows_the_report_and_its_files(demo, public_app):
    client = public_app.test_client()
    client.get("/report/?lang=en")
    code, receipt = _send(client, reporter_copy="y", when="2026年10月", where="合成车间会议室")
    assert "Anyone with the code can read your report, its files" in receipt
    assert CANARY not in receipt  # the receipt does not repeat the report

    other = public_app.test_client()  # another browser, with nothing but the code
    other.get("/report/?lang=en")
    page = _follow_up(other, code)
    assert CANARY in page and "车间主任 李某" in page and "合成车间会议室" in page
    # The choices in words, the unit by its name: never the form's codes.
    assert "Report of misconduct" in page and "Misuse of funds" in page
    assert "Middle manager" in page and "misuse_of_funds" not in page
    assert FILE_NAME in page
    links = re.findall(r'href="(/report/follow-up/files/[^"]*)"', page)
    assert len(links) == 1
    download = other.get(links[0])
    assert download.status_code == 200 and download.data == FILE_BYTES
    assert f"filename*=UTF-8''{quote(FILE_NAME)}" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"


def test_without_the_copy_the_page_says_so_and_the_files_stay_closed(demo, public_app):
    client = public_app.test_client()
    client.get("/report/?lang=en")
    code, receipt = _send(client)  # the box unticked: a browser sends nothing for it
    assert "you chose not to keep a copy" in receipt
    page = _follow_up(client, code)
    assert "You chose not to keep a copy of your report" in page
    assert CANARY not in page and FILE_NAME not in page
    with public_app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        assert not report.reporter_copy
        (row,) = [e for e in report.envelopes if e.role == EnvelopeRole.attachment]
        row_id = row.id
    # The file's address, guessed or copied from elsewhere, opens nothing for the reporter.
    assert client.get(f"/report/follow-up/files/{row_id}").status_code == 404


def test_the_report_s_file_is_not_offered_to_another_report_s_reporter(demo, public_app):
    mine = public_app.test_client()
    _code, _receipt = _send(mine, reporter_copy="y")
    with public_app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        (row,) = [e for e in report.envelopes if e.role == EnvelopeRole.attachment]
        row_id = row.id
    theirs = public_app.test_client()
    their_code, _receipt = _send(theirs, reporter_copy="y", what="另一份举报的内容")
    _follow_up(theirs, their_code)
    assert theirs.get(f"/report/follow-up/files/{row_id}").status_code == 404


def test_the_safety_page_says_what_the_code_opens(public_app):
    client = public_app.test_client()
    page = client.get("/report/?lang=en").get_data(as_text=True)
    assert "Whoever has the receipt code can read your report and its files" in page
    assert "reply in your name" in page
