"""The auditor's pages: only auditors, filters that combine, a case's history, downloads.

Each page signs a checkpoint first; each download of the trail's data is itself an entry.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.models import AuditEntry, StaffUser
from app.services import audit
from app.services.audit import AuditAction
from crypto import tlog
from tests.helpers.console import session_of, signed_in

CASE = "R7K2Q9XW3MPD5RTN"
OTHER_CASE = "举报-二〇二六-0042"
REPORT_TEXT = "食堂采购价格虚高，经办人收受回扣。"


@pytest.fixture
def trail(db, demo):
    """Entries by three people over three days about two cases."""
    with db() as session:
        users = {u.username: u for u in session.scalars(select(StaffUser))}
        head, inspector, mch = users["head"], users["inspector"], users["mch.inspector"]

        def add(action, actor, day, case=None, subject=None, detail=""):
            audit.record(
                session,
                action,
                actor=actor,
                case_id=case,
                subject=subject,
                detail=detail,
                on=date(2026, 11, day),
            )

        add(AuditAction.sign_in, inspector, 2)
        add(AuditAction.case_open, inspector, 2, CASE)
        add(AuditAction.assignment, head, 3, CASE, inspector, "交办：请核实采购问题")
        add(AuditAction.label, inspector, 3, CASE, detail="紧急")
        add(AuditAction.case_open, mch, 4, OTHER_CASE)
        add(AuditAction.sign_in_failed, None, 4)
        add(AuditAction.status_change, head, 5, CASE, detail="received -> acknowledged")
    return {"head": head.id, "inspector": inspector.id, "mch": mch.id}


@pytest.fixture
def auditor(console_app, demo):
    """The auditor, signed in before the trail's entries were made (no sign-in entry)."""
    return session_of(console_app, "auditor")


def rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip())
        for row in body.split("<tr>")[1:]
    ]


def entries(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.mark.parametrize("username", ["admin", "inspector", "head", "publisher"])
def test_only_auditors_see_the_trail_others_get_403_with_the_navigation(
    console_app, demo, trail, username
):
    client = signed_in(console_app, username)
    for path in (
        "/audit/",
        f"/audit/cases/{CASE}",
        "/audit/checkpoint",
        "/audit/proof/0",
        "/audit/key",
        "/audit/consistency?from=1&to=2",
    ):
        response = client.get(path + ("&" if "?" in path else "?") + "lang=en")
        assert response.status_code == 403, path
        page = response.get_data(as_text=True)
        assert "Access denied" in page and "Sign out" in page and "Audit trail" not in page
        assert "交办" not in page


def test_signed_out_visitors_are_sent_to_sign_in(console_app, trail):
    response = console_app.test_client().get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_trail_newest_first_with_who_what_case_whom_and_day(auditor, trail):
    response = auditor.get("/audit/?lang=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    listed = rows(page)
    assert listed[0] == f"6 2026-11-05 head changed status {CASE} — received -> acknowledged"
    assert listed[4] == (f"2 2026-11-03 head assignment {CASE} inspector 交办：请核实采购问题")
    assert listed[1] == "5 2026-11-04 unknown account failed sign-in — — —"
    assert "7 entries in all" in page
    assert f'href="/audit/cases/{CASE}"' in page
    assert 'href="/audit/checkpoint"' in page
    # Chinese by default.
    assert "审计" in auditor.get("/audit/?lang=zh").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("person={inspector}", [3, 2, 1, 0]),  # as actor or as the one concerned
        ("person={head}&action=assignment", [2]),
        (f"case={CASE}", [6, 3, 2, 1]),
        (f"case={OTHER_CASE}", [4]),
        ("date_from=2026-11-03&date_to=2026-11-04", [5, 4, 3, 2]),
        ("action=case_open&date_from=2026-11-03", [4]),
        (f"person={{mch}}&case={CASE}", []),
    ],
)
def test_filters_combine(auditor, trail, query, expected):
    response = auditor.get("/audit/?lang=en&" + query.format(**trail))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if expected:
        assert [int(row.split()[0]) for row in rows(page)] == expected
    else:
        assert "No entries match these filters" in page


BAD_FILTERS = [  # query, message, what the form shows again
    ("date_from=2026-13-01", "Enter a date as YYYY-MM-DD", 'value="2026-13-01"'),
    ("date_from=２０２６-11-01", "Enter a date as YYYY-MM-DD", 'value="２０２６-11-01"'),
    ("date_to=99999-01-01", "Enter a date as YYYY-MM-DD", 'value="99999-01-01"'),
    (
        "date_from=2026-11-05&date_to=2026-11-01&case=" + CASE,
        "The end date is before the start date",
        f'value="{CASE}"',
    ),
    (
        "action=read_everything&date_from=2026-11-02",
        "Choose an action from the list",
        'value="2026-11-02"',
    ),
    ("person=99999999999999999999", "Choose a person from the list", None),
    ("person=abc&case=" + OTHER_CASE, "Choose a person from the list", f'value="{OTHER_CASE}"'),
    ("case=" + "案" * 65, "A case number is at most 64 characters", 'value="' + "案" * 65 + '"'),
]


@pytest.mark.parametrize(("query", "message", "kept"), BAD_FILTERS)
def test_bad_filters_get_a_400_page_that_keeps_what_was_typed(auditor, trail, query, message, kept):
    response = auditor.get("/audit/?lang=en&" + query)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "Sign out" in page
    assert "Some filters could not be used" in page
    if kept:
        assert kept in page


@pytest.mark.parametrize(
    "cursor", ["2147483648", "3000000000", "9223372036854775808", "-1", "1e3", "１"]
)
def test_a_bad_page_cursor_is_a_400_not_a_500(auditor, trail, cursor):
    # A log index is a 32-bit integer on PostgreSQL: past it, the same 400 as any bad value.
    assert auditor.get(f"/audit/?cursor={cursor}").status_code == 400
    assert auditor.get(f"/audit/cases/{CASE}?cursor={cursor}").status_code == 400
    assert auditor.get(f"/audit/cases/{OTHER_CASE}?cursor={cursor}").status_code == 400


def test_the_largest_log_index_is_a_cursor_like_any_other(auditor, trail):
    newest = rows(auditor.get("/audit/?cursor=2147483647").get_data(as_text=True))
    assert newest == rows(auditor.get("/audit/").get_data(as_text=True))
    response = auditor.get(f"/audit/cases/{OTHER_CASE}?cursor=2147483647")
    assert response.status_code == 200
    assert auditor.get("/audit/proof/2147483647").status_code == 404


def test_pages_go_on_and_back(auditor, trail, monkeypatch):
    from app.console.audit import views

    monkeypatch.setattr(views, "PER_PAGE", 3)
    first = auditor.get("/audit/?lang=en").get_data(as_text=True)
    assert [int(r.split()[0]) for r in rows(first)] == [6, 5, 4]
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = auditor.get(older).get_data(as_text=True)
    assert [int(r.split()[0]) for r in rows(second)] == [3, 2, 1]
    newer = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert [int(r.split()[0]) for r in rows(auditor.get(newer).get_data(as_text=True))] == [6, 5, 4]
    last = re.search(r'rel="next" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    third = auditor.get(last).get_data(as_text=True)
    assert [int(r.split()[0]) for r in rows(third)] == [0]
    assert 'rel="next"' not in third
    # Filters are kept from page to page.
    filtered = auditor.get(f"/audit/?case={CASE}&lang=en").get_data(as_text=True)
    link = re.search(r'rel="next" href="([^"]+)"', filtered).group(1)
    assert f"case={CASE}" in link


def test_the_empty_trail_says_so(auditor, db):
    page = auditor.get("/audit/?lang=en").get_data(as_text=True)
    # Signing in left entries only if the sign-in is audited; an empty trail says so.
    if entries(db) == 0:
        assert "The audit trail is empty" in page
        assert "Nothing has been recorded yet" in page


def test_a_case_s_whole_history_oldest_first(auditor, trail):
    response = auditor.get(f"/audit/cases/{CASE}?lang=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert [int(r.split()[0]) for r in rows(page)] == [1, 2, 3, 6]
    assert "4 entries about this case" in page
    chinese = auditor.get(f"/audit/cases/{OTHER_CASE}?lang=zh")
    assert chinese.status_code == 200 and OTHER_CASE in chinese.get_data(as_text=True)


@pytest.mark.parametrize("case_id", ["NOSUCHCASE", "案" * 65, "x" * 10_000])
def test_a_case_without_entries_is_a_404_with_the_navigation(auditor, trail, case_id):
    response = auditor.get(f"/audit/cases/{case_id}?lang=en")
    assert response.status_code == 404
    assert "Sign out" in response.get_data(as_text=True)


def test_each_page_is_covered_by_a_signed_checkpoint(auditor, trail, db, console_app):
    auditor.get("/audit/")
    keys = console_app.extensions["portal.audit_log"]
    with db() as session:
        latest = audit.latest_checkpoint(session)
        assert latest.size == audit.log_size(session)
    tlog.verify_checkpoint(latest.note, keys.verifier(), keys.origin)


def test_the_checkpoint_download_is_signed_and_audited_as_an_export(
    auditor, trail, db, console_app
):
    before = entries(db)
    response = auditor.get("/audit/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "attachment" in response.headers["Content-Disposition"]
    keys = console_app.extensions["portal.audit_log"]
    signed = tlog.verify_checkpoint(response.get_data(as_text=True), keys.verifier(), keys.origin)
    key = auditor.get("/audit/key").get_data(as_text=True)
    assert tlog.Verifier.from_vkey(key).vkey == keys.verifier().vkey
    with db() as session:
        last = session.scalar(select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(1))
        assert (last.action, last.actor_username, last.detail) == (
            "export",
            "auditor",
            "audit checkpoint",
        )
    assert signed.size == before + 1  # the checkpoint covers its own download


def test_an_inclusion_proof_verifies_against_the_checkpoint(auditor, trail, db, console_app):
    response = auditor.get("/audit/proof/2")
    assert response.status_code == 200
    proof = response.get_json()
    keys = console_app.extensions["portal.audit_log"]
    signed = tlog.verify_checkpoint(proof["checkpoint"], keys.verifier(), keys.origin)
    record = proof["record"].encode()
    assert "交办：请核实采购问题" in json.loads(record)["detail"]
    leaf = tlog.leaf_hash(record)
    import base64

    assert base64.b64decode(proof["leaf_hash"]) == leaf
    tlog.verify_inclusion(
        leaf, 2, signed.size, [base64.b64decode(h) for h in proof["proof"]], signed.root_hash
    )
    with db() as session:
        last = session.scalar(select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(1))
        assert (last.action, last.detail) == ("export", "audit proof of entry 2")


@pytest.mark.parametrize(
    "index", ["9999", "2147483648", "3000000000", "9223372036854775808", "-1", "abc", "２"]
)
def test_a_proof_of_no_entry_is_a_404(auditor, trail, index):
    assert auditor.get(f"/audit/proof/{index}").status_code == 404


def test_a_consistency_proof_verifies(auditor, trail, console_app):
    import base64

    response = auditor.get("/audit/consistency?from=3&to=7")
    assert response.status_code == 200
    body = response.get_json()
    tlog.verify_consistency(
        3,
        7,
        base64.b64decode(body["from_root"]),
        base64.b64decode(body["to_root"]),
        [base64.b64decode(h) for h in body["proof"]],
    )
    latest = auditor.get("/audit/consistency?from=7").get_json()
    keys = console_app.extensions["portal.audit_log"]
    signed = tlog.verify_checkpoint(latest["checkpoint"], keys.verifier(), keys.origin)
    assert latest["to"] == signed.size and base64.b64decode(latest["to_root"]) == signed.root_hash


@pytest.mark.parametrize(
    "query", ["from=5&to=3", "from=1&to=99999999999999999999", "from=x", "from=-1", ""]
)
def test_a_bad_consistency_request_is_a_400_and_no_export(auditor, trail, db, query):
    before = entries(db)
    response = auditor.get(f"/audit/consistency?{query}")
    assert response.status_code == 400 and "error" in response.get_json()
    after = entries(db)
    assert after == before  # nothing exported, nothing recorded


def test_auditors_read_no_report_content(auditor, trail, db):
    for path in ("/audit/", f"/audit/cases/{CASE}"):
        page = auditor.get(path).get_data(as_text=True)
        assert REPORT_TEXT not in page


def test_the_auditor_s_dashboard_shows_recent_checkpoints_and_entries(auditor, trail):
    auditor.get("/audit/")  # signs a checkpoint of the seven entries
    page = auditor.get("/?lang=en").get_data(as_text=True)
    assert "Recent checkpoints of the audit trail" in page
    assert "7 entries, signed on" in page
    assert "交办：请核实采购问题" in page  # the recent entries, with their detail
    assert 'href="/audit/"' in page


def test_the_auditor_s_dashboard_before_anything_is_signed(auditor, db):
    page = auditor.get("/?lang=en").get_data(as_text=True)
    assert "No checkpoint signed yet." in page
    if entries(db) == 0:
        assert "Nothing has been recorded yet." in page


@pytest.mark.parametrize("username", ["admin", "inspector"])
def test_other_dashboards_show_nothing_of_the_trail(console_app, demo, trail, username):
    page = signed_in(console_app, username).get("/?lang=en").get_data(as_text=True)
    assert "Recent checkpoints" not in page and "交办" not in page and "/audit/" not in page
