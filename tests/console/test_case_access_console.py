"""The console's pages on who reads a case: grant, recusal, transfer upward, export and the
recovery ceremony. Each with its permission, its confirmation, its audit entry, and its
refusals told in words that keep what was typed (never a share word). Chinese data."""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import select

from app.models import DisciplineOffice, Report, StaffUser
from app.services.cases.notes import add_note
from app.services.recovery import recovery_ceremony
from app.services.staff import totp_now
from crypto.age import decrypt_bytes
from crypto.keys import X25519Identity
from tests.helpers.case_console import send_report, signed_in_as
from tests.helpers.cases import add_staff
from tests.helpers.forms import csrf_token
from tests.helpers.reports import TODAY

NOTE = "王某与供应商系亲属关系，需核实。"


@pytest.fixture
def report_id(db, org, blobs):
    made = send_report(db, blobs, real_name="张三", excluded=[org.staff["mch.insp2"]])
    with db() as session:
        report = session.get(Report, made)
        add_note(session, blobs, session.get(StaffUser, org.staff["mch.head"]), report, NOTE, TODAY)
    return made


def _post(client, page: str, path: str, data=None, lang: str = "en"):
    token = csrf_token(client.get(f"{page}?lang={lang}").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


def _same_404(client, report_id):
    missing = client.get("/cases/" + "0" * 32)
    hidden = client.get(f"/cases/{report_id}")
    assert hidden.status_code == missing.status_code == 404

    def strip(response) -> str:
        page = response.get_data(as_text=True)
        page = re.sub(r'name="csrf_token" value="[^"]*"', "", page)  # a token is timed
        return page.replace(report_id, "").replace("0" * 32, "")

    assert strip(hidden) == strip(missing)


# --- grant ------------------------------------------------------------------------------------


def test_a_grant_lets_the_colleague_read_the_case_and_its_notes(
    console_app, db, org, report_id, audit_entries
):
    with db() as session:
        add_staff(session, org, "mch.new", "新任纪检员 马丽", "MCH")
    newcomer = signed_in_as(console_app, org, "mch.new")
    assert newcomer.get(f"/cases/{report_id}").status_code == 404
    client = signed_in_as(console_app, org, "mch.insp1")
    page = client.get(f"/cases/{report_id}").get_data(as_text=True)
    options = re.search(r'<select[^>]*name="grantee".*?</select>', page, re.S).group(0)
    assert "新任纪检员 马丽" in options
    assert "机械纪检员 何丽" not in options  # kept out by the reporter: never offered
    assert "机械纪委书记 吴刚" not in options  # reads it already
    sent = _post(
        client,
        f"/cases/{report_id}",
        f"/cases/{report_id}/grant",
        {"grantee": str(org.staff["mch.new"])},
        lang="zh",
    )
    assert sent.status_code == 303
    done = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "新任纪检员 马丽" in done and f"/cases/{report_id}" in done
    assert [(e.action, e.actor, e.subject) for e in audit_entries if e.action == "grant"] == [
        ("grant", "mch.insp1", "mch.new")
    ]
    opened = newcomer.get(f"/cases/{report_id}")
    assert opened.status_code == 200 and NOTE in opened.get_data(as_text=True)


@pytest.mark.parametrize(
    ("who", "says"),
    [
        ("mch.insp2", "was kept out of this case by the reporter"),
        ("chm.insp", "is not a member of the office"),
    ],
)
def test_a_grant_to_one_who_may_not_read_is_refused_in_words(
    console_app, org, report_id, who, says
):
    client = signed_in_as(console_app, org, "mch.insp1")
    refused = _post(
        client, f"/cases/{report_id}", f"/cases/{report_id}/grant", {"grantee": str(org.staff[who])}
    )
    assert refused.status_code == 400
    assert says in refused.get_data(as_text=True)


def test_a_colleague_without_a_key_is_refused_and_told_why(console_app, db, org, report_id):
    with db() as session:
        add_staff(session, org, "mch.nokey", "新任纪检员 高峰", "MCH", keyed=False)
    client = signed_in_as(console_app, org, "mch.head")
    refused = _post(
        client,
        f"/cases/{report_id}",
        f"/cases/{report_id}/grant",
        {"grantee": str(org.staff["mch.nokey"])},
    )
    assert refused.status_code == 400
    assert "has no key yet" in refused.get_data(as_text=True)


# --- recusal ----------------------------------------------------------------------------------


def test_a_recusal_is_confirmed_then_the_case_is_gone_with_the_same_404(
    console_app, org, report_id, audit_entries
):
    client = signed_in_as(console_app, org, "mch.insp1")
    confirm = client.get(f"/cases/{report_id}/recuse?lang=en")
    assert confirm.status_code == 200 and "nobody can give it back" in confirm.get_data(
        as_text=True
    )
    assert [e.action for e in audit_entries if e.action == "recusal"] == []  # only asked
    sent = _post(client, f"/cases/{report_id}/recuse", f"/cases/{report_id}/recuse")
    assert sent.status_code == 303
    done = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "You declared a conflict of interest" in done and report_id[:8] in done
    assert report_id not in client.get("/cases/").get_data(as_text=True)
    _same_404(client, report_id)
    assert [(e.action, e.actor) for e in audit_entries if e.action == "recusal"] == [
        ("recusal", "mch.insp1")
    ]
    # Nobody else learns of it from that page.
    other = signed_in_as(console_app, org, "mch.insp2")
    assert other.get(f"/cases/{report_id}/left").status_code == 404


def test_the_last_reader_cannot_recuse_and_is_told(console_app, db, org, blobs):
    made = send_report(db, blobs, excluded=[org.staff["mch.insp2"], org.staff["mch.insp1"]])
    client = signed_in_as(console_app, org, "mch.head")
    refused = _post(client, f"/cases/{made}/recuse", f"/cases/{made}/recuse")
    assert refused.status_code == 409
    assert "Grant it to a colleague first" in refused.get_data(as_text=True)
    assert client.get(f"/cases/{made}").status_code == 200


# --- transfer ---------------------------------------------------------------------------------


def test_a_head_transfers_upward_and_the_inbox_keeps_one_line(
    console_app, org, report_id, audit_entries
):
    inspector = signed_in_as(console_app, org, "mch.insp1")
    page = inspector.get(f"/cases/{report_id}").get_data(as_text=True)
    assert f"/cases/{report_id}/transfer" not in page  # heads only
    assert _post(inspector, f"/cases/{report_id}", f"/cases/{report_id}/transfer").status_code == (
        403
    )
    head = signed_in_as(console_app, org, "mch.head")
    sent = _post(head, f"/cases/{report_id}", f"/cases/{report_id}/transfer", lang="zh")
    assert sent.status_code == 303
    done = head.get(sent.headers["Location"]).get_data(as_text=True)
    assert "华夏能源集团有限公司纪委" in done
    inbox = inspector.get("/cases/?lang=zh").get_data(as_text=True)
    (line,) = re.findall(rf"<li>[^<]*{report_id[:8]}[^<]*</li>", inbox)
    assert "华夏能源集团有限公司纪委" in line and "2026" in line
    assert f"/cases/{report_id}" not in inbox  # one line, no link, nothing more
    _same_404(inspector, report_id)
    above = signed_in_as(console_app, org, "grp.insp1")
    opened = above.get(f"/cases/{report_id}")
    assert opened.status_code == 200 and NOTE in opened.get_data(as_text=True)
    assert [(e.action, e.actor) for e in audit_entries if e.action == "transfer"] == [
        ("transfer", "mch.head")
    ]


def test_the_group_office_cannot_transfer_upward(console_app, db, org, blobs):
    made = send_report(db, blobs, unit_code="GRP-FIN")
    head = signed_in_as(console_app, org, "grp.head")
    refused = _post(head, f"/cases/{made}", f"/cases/{made}/transfer")
    assert refused.status_code == 409
    assert "has no office above it" in refused.get_data(as_text=True)
    assert head.get(f"/cases/{made}").status_code == 200


# --- export -----------------------------------------------------------------------------------


def test_an_export_streams_an_age_file_for_the_chosen_recipients(
    console_app, org, report_id, audit_entries
):
    offline = X25519Identity.generate()
    client = signed_in_as(console_app, org, "mch.insp1")
    fields = {"readers": str(org.staff["mch.head"]), "typed": f" {offline.recipient}\n"}
    sent = _post(client, f"/cases/{report_id}", f"/cases/{report_id}/export", fields)
    assert sent.status_code == 200
    assert sent.headers["Content-Disposition"].startswith("attachment")
    assert ".age" in sent.headers["Content-Disposition"]
    data = sent.get_data()
    assert data.startswith(b"age-encryption.org/v1")
    for key in (offline, org.keys["mch.head"]):
        assert NOTE.encode() in decrypt_bytes(data, [key])
    assert [(e.action, e.actor) for e in audit_entries if e.action == "export"] == [
        ("export", "mch.insp1")
    ]


def test_a_wrong_export_key_is_told_and_kept(console_app, org, report_id, audit_entries):
    client = signed_in_as(console_app, org, "mch.insp1")
    typed = "age1不是密钥"
    refused = _post(client, f"/cases/{report_id}", f"/cases/{report_id}/export", {"typed": typed})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Typed key 1 is not an age public key" in page and typed in page
    assert [e for e in audit_entries if e.action == "export"] == []


# --- the recovery ceremony --------------------------------------------------------------------


@pytest.fixture
def shares(db, org):
    with db() as session:
        office = session.get(DisciplineOffice, org.offices["MCH"])
        made = recovery_ceremony(
            session, office, 2, 3, ["吴刚", "刘洋", "何丽"], TODAY, replace=True
        )
        return [" ".join(sheet.words) for sheet in made]


def _ceremony(
    client, report_id, org, typed, holders=("mch.head", "mch.insp2"), lang="en", codes=None
):
    codes = codes or [totp_now("A" * 32)] * len(holders)  # the test staff's secret
    data = {
        "cases": report_id,
        "grantee": str(org.staff["mch.insp1"]),
        **{f"share{i}-holder": str(org.staff[h]) for i, h in enumerate(holders, start=1)},
        **{f"share{i}-words": words for i, words in enumerate(typed, start=1)},
        **{f"share{i}-code": code for i, code in enumerate(codes, start=1)},
    }
    return _post(client, "/cases/recovery", "/cases/recovery", data, lang=lang)


def test_only_an_office_head_holds_the_ceremony(console_app, org, shares):
    assert signed_in_as(console_app, org, "mch.insp1").get("/cases/recovery").status_code == 404
    page = signed_in_as(console_app, org, "mch.head").get("/cases/recovery")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('type="password"') == 2  # 2 of 3


def test_k_officers_re_open_a_case_for_an_inspector_with_a_new_key(
    console_app, db, org, blobs, shares, report_id, audit_entries
):  # the shares first: the report is encrypted to the recovery key they make
    fresh = X25519Identity.generate()
    with db() as session:
        session.get(StaffUser, org.staff["mch.insp1"]).age_recipient = str(fresh.recipient)
    org.keys["mch.insp1"] = fresh
    inspector = signed_in_as(console_app, org, "mch.insp1")
    assert NOTE not in inspector.get(f"/cases/{report_id}").get_data(as_text=True)
    head = signed_in_as(console_app, org, "mch.head")
    sent = _ceremony(head, report_id, org, [shares[0], shares[2]], lang="zh")
    assert sent.status_code == 303, sent.get_data(as_text=True)
    done = head.get(sent.headers["Location"]).get_data(as_text=True)
    assert "机械纪检员 刘洋" in done and f"/cases/{report_id}" in done
    recorded = {(e.actor, e.subject) for e in audit_entries if e.action == "recovery"}
    assert recorded == {("mch.head", "mch.insp1"), ("mch.insp2", "mch.insp1")}
    assert NOTE in inspector.get(f"/cases/{report_id}").get_data(as_text=True)


def test_a_wrong_share_word_is_named_by_number_and_nothing_else_is_lost(
    console_app, org, report_id, shares
):
    words = shares[1].split()
    wrong = words[6][:-1] + ("q" if words[6][-1] != "q" else "z")
    mistyped = " ".join([*words[:6], wrong, *words[7:]])
    head = signed_in_as(console_app, org, "mch.head")
    refused = _ceremony(head, report_id, org, [shares[0], mistyped])
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Share 2, word 7 is not a recovery word" in page
    assert wrong not in page
    for share in (shares[0], mistyped):  # no two words of a share side by side (single
        words = share.split()  # words like "main" are also the page's own)
        assert not [p for p in itertools.pairwise(words) if " ".join(p) in page], "a share shown"
        assert 'value="' + share not in page
    # The officers, the case and the inspector chosen are kept.
    assert re.search(rf'<option selected value="{org.staff["mch.insp2"]}"', page) or re.search(
        rf'value="{org.staff["mch.insp2"]}" selected', page
    )
    assert re.search(rf'checked[^>]*value="{report_id}"|value="{report_id}"[^>]*checked', page)


def test_each_officer_confirms_with_their_own_authenticator_code(
    console_app, db, org, report_id, shares, audit_entries
):
    """A head cannot name colleagues who are not there: each typed share needs that officer's
    current code, and a code is taken once."""
    fresh = X25519Identity.generate()
    with db() as session:
        session.get(StaffUser, org.staff["mch.insp1"]).age_recipient = str(fresh.recipient)
    head = signed_in_as(console_app, org, "mch.head")
    now = totp_now("A" * 32)
    wrong = f"{(int(now) + 1) % 1_000_000:06d}"
    for codes in ([now, wrong], [now, ""]):
        refused = _ceremony(head, report_id, org, [shares[0], shares[2]], codes=codes)
        assert refused.status_code == 400
        assert "The authenticator code of 机械纪检员 何丽 is not correct" in refused.get_data(
            as_text=True
        )
    assert not [e for e in audit_entries if e.action == "recovery"]


def test_one_officer_typing_two_shares_is_refused(console_app, org, report_id, shares):
    head = signed_in_as(console_app, org, "mch.head")
    refused = _ceremony(head, report_id, org, shares[:2], holders=("mch.insp2", "mch.insp2"))
    assert refused.status_code == 400
    assert "Each share is typed by a different officer" in refused.get_data(as_text=True)


def test_cases_of_another_office_are_not_offered(console_app, db, org, blobs, shares):
    other = send_report(db, blobs, unit_code="GRP-FIN")
    head = signed_in_as(console_app, org, "mch.head")
    assert other not in head.get("/cases/recovery").get_data(as_text=True)
    refused = _ceremony(head, other, org, shares[:2])
    assert refused.status_code == 400
    with db() as session:
        report = session.get(Report, other)
        assert org.staff["mch.insp1"] not in {r.staff_id for r in report.readers}
        assert (
            session.scalar(select(Report.office_id).where(Report.id == other))
            != (org.offices["MCH"])
        )
