"""The organisation's pages: units and discipline offices added, renamed, moved, closed and
removed by an administrator, each change on the audit trail; bad input shown again with
what was typed and a translated message; no other role gets in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from app.models import AuditEntry, DisciplineOffice, Report, ReportStatus, Unit
from app.services import units
from tests.helpers.case_console import send_report
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

NON_ADMINS = ("publisher", "approver", "inspector", "mch.head", "auditor")


def _unit(db, code: str) -> Unit:
    with db() as session:
        unit = units.by_code(session, code)
        assert unit is not None
        session.expunge(unit)
        return unit


def _add(admin, lang: str = "zh", **fields: str):
    page = admin.get(f"/admin/units/?lang={lang}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page)}
    data.update({f"unit-{name}": value for name, value in fields.items()})
    return admin.post("/admin/units/", data=data)


def _post(admin, path: str, page_path: str, **fields: str):
    token = csrf_token(admin.get(page_path).get_data(as_text=True))
    return admin.post(path, data={"csrf_token": token, **fields})


def _details(db) -> list[str]:
    with db() as session:
        return list(session.scalars(select(AuditEntry.detail).order_by(AuditEntry.log_index)))


def test_admin_adds_renames_moves_closes_and_removes_a_unit(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    mch = _unit(db, "MCH")
    added = _add(
        admin,
        code="mch-steel2",
        name_zh="第二炼钢厂",
        name_en="No. 2 Steelworks",
        kind="workshop",
        parent=str(mch.id),
    )
    assert added.status_code == 302
    steel = _unit(db, "MCH-STEEL2")  # stored in capitals
    assert steel.parent_id == mch.id and steel.name_zh == "第二炼钢厂"
    tree = admin.get("/admin/units/").get_data(as_text=True)
    assert "第二炼钢厂" in tree and "单位" in tree  # the page speaks Chinese

    page = f"/admin/units/{steel.id}"
    renamed = _post(
        admin,
        f"/admin/units/{steel.id}/rename",
        page,
        **{"rename-name_zh": "第二炼钢分厂", "rename-name_en": "No. 2 Steel Plant"},
    )
    assert renamed.status_code == 302
    chm = _unit(db, "CHM")
    moved = _post(admin, f"/admin/units/{steel.id}/move", page, **{"move-parent": str(chm.id)})
    assert moved.status_code == 302
    after_move = admin.get(page).get_data(as_text=True)
    assert "第二炼钢分厂" in after_move
    assert _unit(db, "MCH-STEEL2").parent_id == chm.id

    closed = _post(admin, f"/admin/units/{steel.id}/close", page)
    assert closed.status_code == 302
    assert _unit(db, "MCH-STEEL2").closed_on is not None
    reopened = _post(admin, f"/admin/units/{steel.id}/reopen", page)
    assert reopened.status_code == 302
    assert _unit(db, "MCH-STEEL2").closed_on is None
    removed = _post(admin, f"/admin/units/{steel.id}/remove", page)
    assert removed.status_code == 302
    with db() as session:
        assert units.by_code(session, "MCH-STEEL2") is None
    assert _details(db)[-6:] == [
        "unit MCH-STEEL2 added",
        "unit MCH-STEEL2 renamed",
        "unit MCH-STEEL2 moved under CHM",
        "unit MCH-STEEL2 closed",
        "unit MCH-STEEL2 reopened",
        "unit MCH-STEEL2 removed",
    ]
    with db() as session:
        actors = session.scalars(
            select(AuditEntry.actor_username).order_by(AuditEntry.log_index.desc()).limit(6)
        )
        assert set(actors) == {"admin"}


def test_admin_adds_a_discipline_office(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    w2 = _unit(db, "CHM-W2")
    done = _post(
        admin,
        f"/admin/units/{w2.id}/office",
        f"/admin/units/{w2.id}",
        **{"office-office_zh": "包装车间纪检组", "office-office_en": "Packaging Discipline Group"},
    )
    assert done.status_code == 302
    with db() as session:
        office = session.scalar(select(DisciplineOffice).where(DisciplineOffice.unit_id == w2.id))
        assert office is not None and office.name_zh == "包装车间纪检组"
    assert _details(db)[-1] == "discipline office added at unit CHM-W2"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "mch", "name_zh": "机械", "name_en": "M"}, "代码 MCH 已被占用"),
        ({"code": "炼钢 二厂", "name_zh": "第二炼钢厂", "name_en": "S"}, "不能有空格"),
        ({"code": "STEEL 2", "name_zh": "第二炼钢厂", "name_en": "S"}, "不能有空格"),
        ({"code": "STEEL2", "name_zh": "   ", "name_en": "S"}, "请输入名称"),
        ({"code": "", "name_zh": "第二炼钢厂", "name_en": "S"}, "请输入代码"),
        (
            {"code": "STEEL2", "name_zh": "第二炼钢厂", "name_en": "S", "parent": str(2**64)},
            "请从列表中选择单位",
        ),
        (
            {"code": "STEEL2", "name_zh": "第二炼钢厂", "name_en": "S", "parent": "999999"},
            "请从列表中选择单位",
        ),
        ({"code": "STEEL2", "name_zh": "第二炼钢厂", "name_en": "S", "kind": "炼钢"}, "类型"),
    ],
)
def test_bad_new_unit_is_shown_again_with_what_was_typed(console_app, demo, db, fields, message):
    admin = signed_in(console_app, "admin")
    fields = {"kind": "workshop", "parent": "", **fields}
    before = _details(db)
    refused = _add(admin, **fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert message in page
    assert 'value="第二炼钢厂"' in page or fields["name_zh"] != "第二炼钢厂"
    if fields["code"]:
        assert f'value="{fields["code"]}"' in page
    with db() as session:
        assert session.scalar(select(Unit).where(Unit.name_zh == "第二炼钢厂")) is None
    assert _details(db) == before


@pytest.mark.parametrize("invisible", ["\u200b\u200c\u2060", "\ufeff\u202e", "\u3000\u200b"])
def test_a_name_of_invisible_characters_is_no_name(console_app, demo, db, invisible):
    admin = signed_in(console_app, "admin")
    before = _details(db)
    refused = _add(admin, code="STEEL2", name_zh=invisible, name_en="No. 2 Steelworks")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "请输入名称" in page and 'value="No. 2 Steelworks"' in page
    assert f'value="{invisible}"' in page  # what was typed comes back
    w2 = _unit(db, "CHM-W2")
    office = _post(
        admin,
        f"/admin/units/{w2.id}/office",
        f"/admin/units/{w2.id}",
        **{"office-office_zh": invisible, "office-office_en": "Packaging Discipline Group"},
    )
    assert office.status_code == 400 and "请输入名称" in office.get_data(as_text=True)
    with db() as session:
        assert units.by_code(session, "STEEL2") is None
        assert (
            session.scalar(select(DisciplineOffice).where(DisciplineOffice.unit_id == w2.id))
            is None
        )
    assert _details(db) == before


def test_unit_and_office_names_are_stored_cleaned(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    added = _add(
        admin,
        code="STEEL2",
        name_zh="第二\u200b炼钢厂\u202e",
        name_en="No.\u30002  Ｓｔｅｅｌｗｏｒｋｓ",
        kind="workshop",
        parent="",
    )
    assert added.status_code == 302
    steel = _unit(db, "STEEL2")
    assert (steel.name_zh, steel.name_en) == ("第二炼钢厂", "No. 2 Steelworks")
    office = _post(
        admin,
        f"/admin/units/{steel.id}/office",
        f"/admin/units/{steel.id}",
        **{"office-office_zh": "\ufeff炼钢纪检组\u2060", "office-office_en": "Steel\tDiscipline"},
    )
    assert office.status_code == 302
    with db() as session:
        found = session.scalar(select(DisciplineOffice).where(DisciplineOffice.unit_id == steel.id))
        assert (found.name_zh, found.name_en) == ("炼钢纪检组", "Steel Discipline")


def test_a_stored_bidi_override_in_a_unit_name_stays_in_its_place(
    console_app, demo, db, public_app
):
    # A name stored before names were cleaned: on the report form it is isolated.
    with db() as session:
        session.execute(update(Unit).where(Unit.code == "MCH-W1").values(name_zh="铸造车间\u202e"))
        session.commit()
    page = public_app.test_client().get("/report/new?lang=zh").get_data(as_text=True)
    assert "<bdi>铸造车间\u202e</bdi></label>" in page


def test_bad_unit_in_english_is_translated(console_app, demo):
    admin = signed_in(console_app, "admin")
    refused = _add(admin, "en", code="Grp", name_zh="集团", name_en="Group", kind="enterprise")
    assert refused.status_code == 400
    assert "The code GRP is taken" in refused.get_data(as_text=True)


@pytest.mark.parametrize("target", ["MCH", "MCH-W1"])
def test_a_unit_cannot_move_under_itself_or_its_child(console_app, demo, db, target):
    admin = signed_in(console_app, "admin")
    mch, parent = _unit(db, "MCH"), _unit(db, target)
    before = _details(db)
    refused = _post(
        admin,
        f"/admin/units/{mch.id}/move",
        f"/admin/units/{mch.id}",
        **{"move-parent": str(parent.id)},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "不能移到它自己或它的下级单位之下" in page
    assert (
        re.search(rf'<option (selected )?value="{parent.id}"( selected)?>', page)
        .group(0)
        .count("selected")
    ), "the refused choice stays chosen"
    assert _unit(db, "MCH").parent_id == _unit(db, "GRP").id
    assert _details(db) == before


@pytest.mark.parametrize("value", [str(2**64), "-1", "１２", "abc"])
def test_a_move_to_a_missing_unit_is_refused(console_app, demo, db, value):
    admin = signed_in(console_app, "admin")
    w1 = _unit(db, "MCH-W1")
    refused = _post(
        admin, f"/admin/units/{w1.id}/move", f"/admin/units/{w1.id}", **{"move-parent": value}
    )
    assert refused.status_code == 400
    assert "请从列表中选择单位" in refused.get_data(as_text=True)


def test_empty_rename_keeps_what_was_typed(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    w1 = _unit(db, "MCH-W1")
    refused = _post(
        admin,
        f"/admin/units/{w1.id}/rename",
        f"/admin/units/{w1.id}",
        **{"rename-name_zh": "", "rename-name_en": "Foundry No. 1"},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "请输入名称" in page and 'value="Foundry No. 1"' in page
    assert _unit(db, "MCH-W1").name_zh == "铸造车间"


def test_a_unit_with_open_cases_cannot_be_closed_or_removed_and_the_page_says_which(
    console_app, demo, db, blobs
):
    admin = signed_in(console_app, "admin")
    with console_app.test_request_context():
        report_id = send_report(db, blobs, unit_code="MCH-W1", files=False)
    unit = _unit(db, "MCH-W1")
    before = _details(db)
    for action in ("close", "remove"):
        refused = _post(admin, f"/admin/units/{unit.id}/{action}", f"/admin/units/{unit.id}")
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400
        assert "未结案件" in page and report_id[:8] in page
    assert _unit(db, "MCH-W1").closed_on is None
    assert _details(db) == before
    # Once the case is concluded the unit can be closed (not removed: the report refers to it).
    with db() as session:
        session.get(Report, report_id).status = ReportStatus.concluded
    closed = _post(admin, f"/admin/units/{unit.id}/close", f"/admin/units/{unit.id}")
    assert closed.status_code == 302
    refused = _post(admin, f"/admin/units/{unit.id}/remove", f"/admin/units/{unit.id}")
    assert refused.status_code == 400 and "请改为撤销" in refused.get_data(as_text=True)
    assert _unit(db, "MCH-W1").closed_on is not None


def test_a_unit_with_history_is_closed_not_removed_and_offered_for_nothing_new(
    console_app, public_app, demo, db
):
    admin = signed_in(console_app, "admin")
    pur = _unit(db, "MCH-PUR")  # a disclosure refers to it, no open case
    refused = _post(admin, f"/admin/units/{pur.id}/remove", f"/admin/units/{pur.id}")
    assert refused.status_code == 400
    assert "请改为撤销" in refused.get_data(as_text=True)
    closed = _post(admin, f"/admin/units/{pur.id}/close", f"/admin/units/{pur.id}")
    assert closed.status_code == 302
    # No longer offered: staff, the catalogue, the report form, the publisher's form.
    assert 'value="MCH-PUR"' not in admin.get("/admin/staff/new").get_data(as_text=True)
    assert 'value="MCH-PUR"' not in admin.get("/admin/disclosures/").get_data(as_text=True)
    publisher = signed_in(console_app, "mch.publisher")
    assert 'value="MCH-PUR"' not in publisher.get("/publish/new").get_data(as_text=True)
    report_form = public_app.test_client().get("/report/new").get_data(as_text=True)
    assert 'value="MCH-PUR"' not in report_form and 'value="MCH-W2"' in report_form
    # Its history stays: the unit is still there, shown as closed, its disclosure public.
    assert "采购部" in admin.get("/admin/units/").get_data(as_text=True)
    assert "撤销" in admin.get(f"/admin/units/{pur.id}").get_data(as_text=True)


def test_an_unused_unit_is_removed(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    hr = _unit(db, "GRP-HR")
    assert _post(admin, f"/admin/units/{hr.id}/remove", f"/admin/units/{hr.id}").status_code == 302
    with db() as session:
        assert units.by_code(session, "GRP-HR") is None


@pytest.mark.parametrize("username", NON_ADMINS)
def test_other_roles_get_403(console_app, demo, db, username):
    client = signed_in(console_app, username)
    w1 = _unit(db, "MCH-W1")
    for path in ("/admin/units/", f"/admin/units/{w1.id}"):
        assert client.get(path).status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post(f"/admin/units/{w1.id}/close", data={"csrf_token": token}).status_code == 403
    assert _unit(db, "MCH-W1").closed_on is None


def test_an_id_past_2_63_is_not_found(console_app, demo):
    admin = signed_in(console_app, "admin")
    assert admin.get(f"/admin/units/{2**64}").status_code == 404


def test_a_move_without_its_field_is_refused_and_the_unit_stays(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    w1 = _unit(db, "MCH-W1")
    before = _details(db)
    refused = _post(admin, f"/admin/units/{w1.id}/move", f"/admin/units/{w1.id}")
    assert refused.status_code == 400
    assert "缺少此项" in refused.get_data(as_text=True)
    assert _unit(db, "MCH-W1").parent_id == _unit(db, "MCH").id
    assert _details(db) == before
    # Empty, as the list's first choice sends it, still means the top of the tree.
    moved = _post(
        admin, f"/admin/units/{w1.id}/move", f"/admin/units/{w1.id}", **{"move-parent": ""}
    )
    assert moved.status_code == 302
    assert _unit(db, "MCH-W1").parent_id is None
