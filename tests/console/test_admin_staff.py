"""Staff accounts in the administration pages: added with a one-time enrolment code shown once,
roles and office, disable and enable, reset with its warning about reports sent to the old
key, every session ended; each change on the audit trail, bad input shown again, no other
role gets in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.models import AuditEntry, Role, StaffUser
from app.services import keys, sessions
from app.services import staff as staff_service
from tests.helpers.case_console import send_report
from tests.helpers.console import enrol, signed_in
from tests.helpers.forms import csrf_token

CODE_RE = re.compile(r'<code class="enrolment-code">([A-Z0-9]{4}(?:-[A-Z0-9]{4}){4})</code>')
NEW_PASSWORD = "王芳自己的口令 2026-steel"


def _user(db, username: str) -> StaffUser:
    with db() as session:
        user = staff_service.by_username(session, username)
        session.expunge(user)
        return user


def _post(client, path: str, page_path: str, **fields):
    token = csrf_token(client.get(page_path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **fields})


def _add(admin, lang: str = "zh", **fields):
    token = csrf_token(admin.get(f"/admin/staff/new?lang={lang}").get_data(as_text=True))
    data = {"csrf_token": token}
    data.update({f"user-{name}": value for name, value in fields.items()})
    return admin.post("/admin/staff/", data=data)


def _trail(db, count: int) -> list[tuple]:
    with db() as session:
        latest = select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(count)
        rows = session.scalars(latest)
        return [(r.action, r.actor_username, r.subject_username, r.detail) for r in rows][::-1]


def test_admin_adds_an_inspector_who_enrols_with_the_code_shown_once(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    added = _add(
        admin,
        username="wang.fang",
        display_name="纪检员 王芳",
        roles=["inspector"],
        unit="MCH",
        office="MCH",
    )
    page = added.get_data(as_text=True)
    assert added.status_code == 200
    assert added.headers["Cache-Control"] == "no-store"
    assert "不会再次显示" in page and "/enrol" in page
    code = CODE_RE.search(page).group(1)
    user = _user(db, "wang.fang")
    assert user.display_name == "纪检员 王芳" and user.roles == {Role.inspector}
    assert not staff_service.has_password(user)
    assert _trail(db, 1) == [("admin_change", "admin", "wang.fang", "added; enrolment code issued")]
    # The code is nowhere else: not on the account's page, not in a flashed message.
    assert code not in admin.get(f"/admin/staff/{user.id}").get_data(as_text=True)
    owner = console_app.test_client()
    done = enrol(owner, "wang.fang", code, NEW_PASSWORD)
    assert done.response.status_code == 200 and done.totp_secret
    with db() as session:
        assert keys.has_identity(staff_service.by_username(session, "wang.fang"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "王芳"}, "用户名以字母开头"),
        ({"username": ""}, "用户名以字母开头"),
        ({"username": "x" * 300}, "最多"),
        ({"username": "INSPECTOR"}, "该用户名已被占用"),  # taken, in another case
        ({"roles": []}, "请至少选择一个角色"),
        ({"roles": ["secretary-general"]}, "请从列表中选择角色"),
        ({"office": ""}, "须属于一个纪检机构"),
        ({"office": "GRP-HR"}, "请从列表中选择纪检机构"),
        ({"unit": "NOWHERE"}, "请从列表中选择单位"),
        ({"unit": str(2**64)}, "请从列表中选择单位"),
    ],
)
def test_bad_new_account_is_shown_again_with_what_was_typed(console_app, demo, db, fields, message):
    admin = signed_in(console_app, "admin")
    data = {
        "username": "wang.fang",
        "display_name": "纪检员 王芳",
        "roles": ["inspector"],
        "unit": "MCH",
        "office": "MCH",
        **fields,
    }
    with db() as session:
        before = session.scalar(select(StaffUser.id).order_by(StaffUser.id.desc()).limit(1))
    refused = _add(admin, **data)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert message in page
    assert 'value="纪检员 王芳"' in page
    if "username" in fields and fields["username"] and len(fields["username"]) < 100:
        assert f'value="{fields["username"]}"' in page
    if data["roles"] == ["inspector"]:
        assert re.search(r'value="inspector" checked', page)
    with db() as session:
        after = session.scalar(select(StaffUser.id).order_by(StaffUser.id.desc()).limit(1))
    assert after == before


@pytest.mark.parametrize(
    "display_name",
    ["\u200b\u2060", "\u202e\ufeff", "\ufdfa" * 12],  # invisible only; too long once cleaned
)
def test_a_display_name_that_is_no_name_is_refused(console_app, demo, db, display_name):
    admin = signed_in(console_app, "admin")
    refused = _add(admin, username="wang.fang", display_name=display_name, roles=["auditor"])
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "请输入姓名" in page
    assert f'value="{display_name}"' in page and 'value="wang.fang"' in page
    with db() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "wang.fang")) is None


def test_the_display_name_is_stored_cleaned(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    added = _add(
        admin,
        username="wang.fang",
        display_name=" 纪检员\u3000王\u200b芳\u202e ",
        roles=["auditor"],
    )
    assert added.status_code == 200
    assert _user(db, "wang.fang").display_name == "纪检员 王芳"
    blank = _add(admin, username="li.na", display_name="  ", roles=["auditor"])
    assert blank.status_code == 200
    assert _user(db, "li.na").display_name == "li.na"  # nothing typed: the username


def test_roles_office_email_disable_enable_and_signout(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    target = signed_in(console_app, "publisher")
    user = _user(db, "publisher")
    page = f"/admin/staff/{user.id}"
    saved = _post(
        admin,
        f"/admin/staff/{user.id}/roles",
        page,
        **{"roles-roles": ["publisher", "approver"], "roles-office": ""},
    )
    assert saved.status_code == 302
    assert _user(db, "publisher").roles == {Role.publisher, Role.approver}
    assert target.get("/").status_code in (302, 401)  # their sessions ended
    assert "审核人" in admin.get(page).get_data(as_text=True)  # the role's Chinese name

    emailed = _post(
        admin, f"/admin/staff/{user.id}/email", page, **{"email-email": "li.na@jituan.example.cn"}
    )
    assert emailed.status_code == 302 and _user(db, "publisher").email == "li.na@jituan.example.cn"
    bad = _post(admin, f"/admin/staff/{user.id}/email", page, **{"email-email": "李娜@集团"})
    assert bad.status_code == 400
    assert "请输入电子邮件地址" in bad.get_data(as_text=True)
    assert 'value="李娜@集团"' in bad.get_data(as_text=True)

    assert _post(admin, f"/admin/staff/{user.id}/disable", page).status_code == 302
    assert not _user(db, "publisher").active
    assert _post(admin, f"/admin/staff/{user.id}/enable", page).status_code == 302
    assert _user(db, "publisher").active

    again = signed_in(console_app, "publisher", at=__import__("time").time() + 30)
    assert again.get("/publish/").status_code == 200
    ended = _post(admin, f"/admin/staff/{user.id}/signout", page)
    assert ended.status_code == 302
    assert again.get("/publish/").status_code != 200
    with db() as session:
        assert sessions.end_all(session, staff_service.by_username(session, "publisher")) == 0

    details = [row[3] for row in _trail(db, 12) if row[0] == "admin_change"]
    assert details == [
        "roles: approver,publisher",
        "e-mail address set",
        "disabled",
        "enabled",
        "signed out of every session",
    ]
    assert {row[2] for row in _trail(db, 12) if row[0] == "admin_change"} == {"publisher"}


def test_bad_roles_keep_what_was_typed(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    user = _user(db, "publisher")
    refused = _post(
        admin,
        f"/admin/staff/{user.id}/roles",
        f"/admin/staff/{user.id}",
        **{"roles-roles": ["publisher", "office_head"], "roles-office": ""},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "须属于一个纪检机构" in page
    assert 'value="office_head" checked' in page
    assert _user(db, "publisher").roles == {Role.publisher}


def test_an_admin_cannot_disable_themselves_or_drop_their_own_role(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    me = _user(db, "admin")
    refused = _post(admin, f"/admin/staff/{me.id}/disable", f"/admin/staff/{me.id}")
    assert refused.status_code == 400 and "不能停用自己的账号" in refused.get_data(as_text=True)
    dropped = _post(
        admin,
        f"/admin/staff/{me.id}/roles",
        f"/admin/staff/{me.id}",
        **{"roles-roles": ["auditor"], "roles-office": ""},
    )
    assert dropped.status_code == 400
    assert _user(db, "admin").active and Role.admin in _user(db, "admin").roles


def test_reset_of_an_inspector_says_first_how_many_reports_need_a_grant(
    console_app, demo, db, blobs
):
    with console_app.test_request_context():
        for _ in range(2):
            send_report(db, blobs, unit_code="MCH-W1", files=False)
    admin = signed_in(console_app, "admin")
    user = _user(db, "mch.inspector")
    warning = admin.get(f"/admin/staff/{user.id}/reset")
    page = warning.get_data(as_text=True)
    assert warning.status_code == 200
    assert "有 2 份举报加密给其旧密钥" in page and "恢复密钥" in page
    assert _user(db, "mch.inspector").sealed_identity is not None  # nothing done yet
    english = admin.get(f"/admin/staff/{user.id}/reset?lang=en").get_data(as_text=True)
    assert "2 reports are encrypted to their old key" in english
    page = admin.get(f"/admin/staff/{user.id}/reset?lang=zh").get_data(as_text=True)
    done = admin.post(f"/admin/staff/{user.id}/reset", data={"csrf_token": csrf_token(page)})
    shown = done.get_data(as_text=True)
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert CODE_RE.search(shown) and "有 2 份举报加密给旧密钥" in shown
    after = _user(db, "mch.inspector")
    assert after.sealed_identity is None and not staff_service.has_password(after)
    assert _trail(db, 1)[0][2:] == ("mch.inspector", "reset; enrolment code issued")


def test_the_cli_says_the_same_count(console_app, demo, db, blobs):
    with console_app.test_request_context():
        send_report(db, blobs, unit_code="MCH-W1", files=False)
    result = console_app.test_cli_runner().invoke(args=["user", "reset", "mch.inspector"])
    assert result.exit_code == 0, result.output
    assert "Reports sent to the old key (1)" in result.output


@pytest.mark.parametrize("username", ["publisher", "approver", "mch.inspector", "auditor"])
def test_other_roles_get_403(console_app, demo, db, username):
    client = signed_in(console_app, username)
    target = _user(db, "approver")
    pages = ("/admin/staff/new", f"/admin/staff/{target.id}", f"/admin/staff/{target.id}/reset")
    for path in pages:
        assert client.get(path).status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    for action in ("disable", "reset", "signout"):
        posted = client.post(f"/admin/staff/{target.id}/{action}", data={"csrf_token": token})
        assert posted.status_code == 403
    assert _user(db, "approver").active and staff_service.has_password(_user(db, "approver"))


def test_an_account_id_past_2_63_is_not_found(console_app, demo):
    admin = signed_in(console_app, "admin")
    assert admin.get(f"/admin/staff/{2**64}").status_code == 404


def test_a_new_role_of_the_enum_is_offered_by_itself(console_app, demo):
    admin = signed_in(console_app, "admin")
    page = admin.get("/admin/staff/new").get_data(as_text=True)
    for role in Role:
        assert f'value="{role.value}"' in page


def test_two_requests_for_one_username_add_one_account(console_app, demo, db, monkeypatch):
    admin = signed_in(console_app, "admin")
    fields = {"username": "wang.fang", "display_name": "王芳", "roles": ["auditor"]}
    assert _add(admin, **fields).status_code == 200
    # The second request's check ran before the first one's account was there.
    monkeypatch.setattr(staff_service, "username_taken", lambda _session, _name: False)
    second = _add(admin, **{**fields, "display_name": "另一个王芳"})
    assert second.status_code == 400
    assert "该用户名已被占用" in second.get_data(as_text=True)
    assert _user(db, "wang.fang").display_name == "王芳"


@pytest.mark.parametrize("change", ["roles", "disable"])
def test_the_last_enrolled_administrator_is_neither_demoted_nor_disabled(
    console_app, demo, db, change
):
    admin = signed_in(console_app, "admin")
    with db() as session:
        other = staff_service.create_user(session, "admin.li", "管理员 李娜", None, [Role.admin])
        other.password_hash = "enrolled"  # any record but NO_PASSWORD: an enrolled account
        # The one signed in counts as not enrolled: admin.li is the last working administrator.
        staff_service.by_username(session, "admin").password_hash = staff_service.NO_PASSWORD
        session.commit()
        other_id = other.id
    page = f"/admin/staff/{other_id}"
    if change == "roles":
        fields = {"roles-roles": ["auditor", "publisher"], "roles-office": ""}
        refused = _post(admin, f"/admin/staff/{other_id}/roles", page, **fields)
    else:
        refused = _post(admin, f"/admin/staff/{other_id}/disable", page)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "这样将不再有其他已启用且已完成注册的管理员" in html
    if change == "roles":  # what was ticked stays ticked
        assert re.search(r'value="publisher"[^>]*checked|checked[^>]*value="publisher"', html)
    user = _user(db, "admin.li")
    assert user.roles == {Role.admin} and user.active


def test_a_digest_address_left_out_of_the_form_is_refused_and_kept(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    user = _user(db, "publisher")
    page = f"/admin/staff/{user.id}"
    address = {"email-email": "li.na@jituan.example.cn"}
    assert _post(admin, f"/admin/staff/{user.id}/email", page, **address).status_code == 302
    refused = _post(admin, f"/admin/staff/{user.id}/email", page)
    assert refused.status_code == 400
    assert "缺少此项" in refused.get_data(as_text=True)
    assert _user(db, "publisher").email == "li.na@jituan.example.cn"
    # Empty, as the page sends it, still removes the address.
    assert (
        _post(admin, f"/admin/staff/{user.id}/email", page, **{"email-email": ""}).status_code
        == 302
    )
    assert _user(db, "publisher").email is None
