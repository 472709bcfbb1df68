"""A reporter who follows up a report purged under the retention rules: the code opens nothing,
and the page is the one a mistyped code gets (it says that reports are deleted after their
retention period), never a 500; a follow-up session open at the purge ends quietly."""

from __future__ import annotations

import re

import pytest

from app.services.reports import retention
from tests.helpers.forms import csrf_token
from tests.helpers.reports import build_org
from tests.helpers.retention import PURGE_DAY, concluded_case

RETENTION_NOTE = {
    "zh": "此外，按照保存期限规定，举报在案件办结若干年后会被删除",
    "en": "Reports are also deleted some years after their case is concluded",
}
NOT_FOUND = {"zh": "此回执码无法打开任何举报", "en": "No report opens with this code"}


def _enter(client, code: str, lang: str):
    page = client.get(f"/report/follow-up?lang={lang}").get_data(as_text=True)
    return client.post(
        "/report/follow-up",
        data={"csrf_token": csrf_token(page), "code": code},
        follow_redirects=True,
    )


def _alert(page: str) -> str:
    found = re.search(r'<div class="alert alert-error" role="alert">.*?</div>', page, re.S)
    assert found, page
    return found.group(0)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_code_of_a_purged_report_gets_the_answer_of_a_mistyped_one(db, public_app, lang):
    with db() as session:
        org = build_org(session)
    blobs = public_app.extensions["portal.blobs"]
    pepper = public_app.config["RECEIPT_PEPPER"].encode()
    report_id, code = concluded_case(db, org, blobs, pepper=pepper)
    reporter = public_app.test_client()
    opened = _enter(reporter, code, lang)
    assert opened.status_code == 200 and "补充：供应商名单见附件。" in opened.get_data(as_text=True)

    with db.app.extensions["portal.db"].sessions() as session:
        outcome = retention.purge(session, blobs, PURGE_DAY, 5)
    assert [case.report_id for case in outcome.purged] == [report_id]

    # The session opened before the purge ends quietly: the code page, nothing of the report.
    again = reporter.get(f"/report/follow-up?lang={lang}", follow_redirects=True)
    assert again.status_code == 200
    assert "供应商" not in again.get_data(as_text=True)

    purged = _enter(public_app.test_client(), code, lang)
    never = _enter(public_app.test_client(), "1234 5678 9012 3456 7890", lang)
    assert purged.status_code == never.status_code == 200
    shown = _alert(purged.get_data(as_text=True))
    assert NOT_FOUND[lang] in shown and RETENTION_NOTE[lang] in shown
    assert shown == _alert(never.get_data(as_text=True))
    assert "供应商" not in purged.get_data(as_text=True)
