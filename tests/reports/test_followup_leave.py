"""Leaving a report's follow-up on one browser ends it on every browser that entered the code."""

from __future__ import annotations

import re

from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import report_form_data

WORDS = "车间主任虚报加班费，每月约三千元。"


def _report(app, what: str) -> str:
    client = app.test_client()
    page = client.post(
        "/report/new", data=report_form_data(client, what=what), follow_redirects=True
    ).get_data(as_text=True)
    code = "".join(re.findall(r"<span>(\d{4})</span>", page))
    assert len(code) == 20
    return code


def _enter(app, code: str):
    client = app.test_client()
    page = client.get("/report/follow-up").get_data(as_text=True)
    entered = client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": code})
    assert entered.status_code == 303
    return client


def test_leaving_on_one_browser_ends_the_follow_up_on_every_other(demo, public_app):
    code, other_code = _report(public_app, WORDS), _report(public_app, "另一份举报：食堂账目不清")
    phone, workshop_pc = _enter(public_app, code), _enter(public_app, code)
    someone_else = _enter(public_app, other_code)
    assert 'id="h-status"' in workshop_pc.get("/report/follow-up").get_data(as_text=True)

    thread = phone.get("/report/follow-up").get_data(as_text=True)
    left = phone.post("/report/follow-up/leave", data={"csrf_token": csrf_token(thread)})
    assert left.status_code == 303

    page = workshop_pc.get("/report/follow-up").get_data(as_text=True)
    assert 'id="h-status"' not in page and 'name="code"' in page  # the code is asked again
    assert 'id="h-status"' in someone_else.get("/report/follow-up").get_data(as_text=True)
