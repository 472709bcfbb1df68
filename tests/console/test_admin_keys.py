"""The offices' recovery keys in the administration pages: who holds shares and when the
ceremony was held; a new ceremony from the browser shows the share sheets once, on a page no
cache keeps, replaces a key only when told to, and leaves the shares in no row, no log line
and no file."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from app.db import Base
from app.models import AuditEntry, DisciplineOffice
from app.services import units
from app.services.recovery import recover_office_identity
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.recovery_shares import share_lines

HOLDERS = "王芳\n李娜\n张伟"


def _office(db, code: str) -> DisciplineOffice:
    with db() as session:
        office = units.office_by_unit_code(session, code)
        if office is None:
            unit = units.by_code(session, code)
            office = units.add_office(session, unit, "第二炼钢厂纪检组", "No. 2 Steelworks Office")
        session.flush()
        session.refresh(office)
        session.expunge(office)
        return office


def _ceremony(admin, office_id: int, lang: str = "zh", **fields):
    page = admin.get(f"/admin/keys/{office_id}/ceremony?lang={lang}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page)}
    data.update({f"ceremony-{name}": value for name, value in fields.items()})
    return admin.post(f"/admin/keys/{office_id}/ceremony", data=data)


def _all_rows_text(db) -> str:
    with db() as session:
        parts = []
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                parts.append(repr(tuple(row)))
        return "\n".join(parts)


def test_a_ceremony_shows_the_sheets_once_and_keeps_no_share(
    console_app, demo, db, instance, caplog
):
    caplog.set_level(logging.DEBUG)
    office = _office(db, "CHM-W2")
    admin = signed_in(console_app, "admin")
    done = _ceremony(admin, office.id, threshold="2", count="3", holders=HOLDERS)
    page = done.get_data(as_text=True)
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    assert "不会再次显示" in page and "不缓存" in page
    shares = share_lines(page.replace("&#34;", '"'))
    assert len(shares) == 3 and all(len(s.split()) >= 20 for s in shares)
    assert "王芳" in page and "张伟" in page
    with db() as session:
        stored = session.get(DisciplineOffice, office.id)
        assert (stored.recovery_threshold, stored.recovery_shares) == (2, 3)
        assert stored.holders == ["王芳", "李娜", "张伟"]
        # Any two of the sheets open the key that was stored.
        recovered = recover_office_identity(stored, [shares[0], shares[2]])
        assert str(recovered.recipient) == stored.recovery_recipient
        entry = session.scalar(select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(1))
        assert entry.actor_username == "admin"
        assert entry.detail == "recovery key made at unit CHM-W2: 2 of 3 shares"
    # The shares are in no row, no log line, no file of the instance folder.
    phrases = [" ".join(share.split()[4:8]) for share in shares]
    rows = _all_rows_text(db)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    files = b"".join(
        path.read_bytes() for path in instance.path.rglob("*") if path.is_file()
    ).decode("utf-8", "replace")
    for phrase in phrases:
        assert phrase not in rows and phrase not in logged and phrase not in files
    # The list shows who holds shares and when the ceremony was held.
    listing = admin.get("/admin/keys/").get_data(as_text=True)
    assert "王芳" in listing and "李娜" in listing
    assert "3 份中需 2 份" in listing
    assert phrases[0] not in listing


def test_an_existing_key_is_replaced_only_after_an_explicit_confirm(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    office = _office(db, "CHM-W2")
    assert _ceremony(admin, office.id, threshold="2", count="3").status_code == 200
    before = _office(db, "CHM-W2").recovery_recipient
    refused = _ceremony(admin, office.id, threshold="3", count="5", holders="")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "已有恢复密钥" in page and "勾选" in page
    assert 'value="3"' in page and 'value="5"' in page
    assert "=== Recovery share" not in page
    assert _office(db, "CHM-W2").recovery_recipient == before
    replaced = _ceremony(admin, office.id, threshold="3", count="5", replace="y")
    assert replaced.status_code == 200
    assert "本机构已有新的恢复密钥" in replaced.get_data(as_text=True)
    after = _office(db, "CHM-W2")
    assert after.recovery_recipient != before and after.recovery_threshold == 3
    with db() as session:
        details = list(
            session.scalars(
                select(AuditEntry.detail).order_by(AuditEntry.log_index.desc()).limit(2)
            )
        )
    assert details[0] == "recovery key replaced at unit CHM-W2: 3 of 5 shares"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"threshold": "1", "count": "3"}, "至少需要 2 份份额"),
        ({"threshold": "4", "count": "3"}, "所需份数不能多于生成份数"),
        ({"threshold": "2", "count": "17"}, "请输入 1 至 16 之间的数字"),
        ({"threshold": str(2**64), "count": "3"}, "请输入 1 至 16 之间的数字"),
        ({"threshold": "二", "count": "3"}, "不是有效"),
        ({"threshold": "2", "count": "3", "holders": "王芳\n李娜"}, "每份份额填写一名持有人"),
        ({"threshold": "2", "count": "3", "holders": "王芳\n\n张伟"}, "持有人姓名为空"),
    ],
)
def test_bad_ceremony_input_is_shown_again(console_app, demo, db, fields, message):
    admin = signed_in(console_app, "admin")
    office = _office(db, "CHM-W2")
    refused = _ceremony(admin, office.id, **fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert message in page
    assert f'value="{fields["threshold"]}"' in page
    if "holders" in fields:
        assert fields["holders"].split("\n")[0] in page
    assert "=== Recovery share" not in page
    assert _office(db, "CHM-W2").recovery_recipient is None


@pytest.mark.parametrize("username", ["publisher", "mch.inspector", "mch.head", "auditor"])
def test_other_roles_get_403(console_app, demo, db, username):
    office = _office(db, "MCH")
    client = signed_in(console_app, username)
    assert client.get("/admin/keys/").status_code == 403
    assert client.get(f"/admin/keys/{office.id}/ceremony").status_code == 403
    assert client.get(f"/admin/keys/{office.id}/check").status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    posted = client.post(
        f"/admin/keys/{office.id}/ceremony",
        data={
            "csrf_token": token,
            "ceremony-threshold": "2",
            "ceremony-count": "3",
            "ceremony-replace": "y",
        },
    )
    assert posted.status_code == 403
    assert _office(db, "MCH").recovery_recipient == office.recovery_recipient


def test_an_office_id_past_2_63_is_not_found(console_app, demo):
    admin = signed_in(console_app, "admin")
    assert admin.get(f"/admin/keys/{2**64}/ceremony").status_code == 404


def test_the_shares_are_checked_against_the_stored_key_and_never_shown_back(
    console_app, demo, db, caplog
):
    caplog.set_level(logging.DEBUG)
    admin = signed_in(console_app, "admin")
    office = _office(db, "CHM-W2")
    shares = share_lines(
        _ceremony(admin, office.id, threshold="2", count="3").get_data(as_text=True)
    )
    page = admin.get(f"/admin/keys/{office.id}/check").get_data(as_text=True)
    assert page.count('type="password"') == 2
    token = csrf_token(page)
    wrong = shares[0].split()
    wrong[5] = "zebra" if wrong[5] != "zebra" else "academic"
    refused = admin.post(
        f"/admin/keys/{office.id}/check",
        data={"csrf_token": token, "check-shares-0": " ".join(wrong), "check-shares-1": shares[1]},
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "份额 1" in text or "第 1 份" in text
    assert shares[1].split()[3] not in text.split("<main")[1].split("</main>")[0].split()
    assert " ".join(shares[1].split()[:4]) not in text
    too_few = admin.post(
        f"/admin/keys/{office.id}/check", data={"csrf_token": token, "check-shares-0": shares[2]}
    )
    assert too_few.status_code == 400
    done = admin.post(
        f"/admin/keys/{office.id}/check",
        data={"csrf_token": token, "check-shares-0": shares[2], "check-shares-1": shares[0]},
    )
    assert done.status_code == 302
    assert "与保存的公钥一致" in admin.get("/admin/keys/").get_data(as_text=True)
    with db() as session:
        entry = session.scalar(select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(1))
        assert entry.detail == "recovery key of unit CHM-W2 checked with its shares"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert " ".join(shares[0].split()[4:8]) not in logged
    assert " ".join(shares[0].split()[4:8]) not in _all_rows_text(db)
