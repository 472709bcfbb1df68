"""The console's retention page (/admin/retention): each report category's period and how many
concluded cases go within a year; administrators only; every change audited; a period that
cannot be (0, 1000, negative, past 2^64, words) refused with a translated message, what was
typed kept and nothing saved."""

from __future__ import annotations

import re
from html import escape, unescape

import pytest
from sqlalchemy import func, select

from app.models import AuditEntry, RetentionPeriod
from tests.helpers.forms import csrf_token

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
PAGE = "/admin/retention"


def _fields(page: str, **typed: str) -> dict[str, str]:
    """What the page sends: every category's field as shown, with ``typed`` typed over it."""
    data = {"retention-csrf_token": csrf_token(page)}
    for tag in re.findall(r'<input[^>]*name="retention-years_[^"]*"[^>]*>', page):
        name = re.search(r'name="([^"]*)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag)
        data[name] = unescape(value.group(1)) if value else ""
    data.update({f"retention-years_{code}": value for code, value in typed.items()})
    return data


def _changes(db) -> int:
    with db() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "admin_change", AuditEntry.detail.like("retention%"))
        )


def test_the_page_shows_each_category_s_period_and_is_linked_from_the_index(auth):
    auth.login("admin")
    index = auth.client.get("/admin/", headers=ZH).get_data(as_text=True)
    assert f'href="{PAGE}"' in index and "已办结案件的保存期限" in index
    response = auth.client.get(PAGE, headers=ZH)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "已办结案件的保存期限" in text and "采购与招投标" in text and "工作作风" in text
    assert "默认期限为 5 年" in text
    assert text.count("5 年") >= 8  # every category: the default


def test_only_an_administrator_sees_or_changes_it(auth, db):
    auth.login("auditor")
    assert auth.client.get(PAGE).status_code == 403
    admin_page = auth.client.get("/admin/").get_data(as_text=True)
    response = auth.client.post(PAGE, data=_fields(admin_page, work_style="10"))
    assert response.status_code in (400, 403)
    with db() as session:
        assert session.get(RetentionPeriod, "work_style") is None


def test_a_period_is_saved_audited_and_set_back_to_the_default(auth, db):
    auth.login("admin")
    page = auth.client.get(PAGE).get_data(as_text=True)
    response = auth.client.post(PAGE, data=_fields(page, work_style="10", other="１２"))
    assert response.status_code == 303
    with db() as session:
        assert session.get(RetentionPeriod, "work_style").years == 10
        assert session.get(RetentionPeriod, "other").years == 12
        details = sorted(
            session.scalars(select(AuditEntry.detail).where(AuditEntry.detail.like("retention%")))
        )
    assert details == [
        "retention of report category other: 12 years",
        "retention of report category work_style: 10 years",
    ]
    shown = auth.client.get(PAGE, headers=ZH).get_data(as_text=True)
    assert "10 年" in shown and 'value="10"' in shown and "已保存" in shown
    # The same again changes nothing and records nothing; empty is the default again.
    page = auth.client.get(PAGE).get_data(as_text=True)
    auth.client.post(PAGE, data=_fields(page, work_style="10", other="12"))
    assert _changes(db) == 2
    page = auth.client.get(PAGE).get_data(as_text=True)
    auth.client.post(PAGE, data=_fields(page, work_style="10", other=""))
    with db() as session:
        assert session.get(RetentionPeriod, "other") is None
    assert _changes(db) == 3


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "保存期限须为 1 至 100 年。"),
        ("1000", "保存期限须为 1 至 100 年。"),
        ("-1", "请以整数年填写期限，例如 5。"),
        (str(2**64), "保存期限须为 1 至 100 年。"),
        ("五年", "请以整数年填写期限，例如 5。"),
        ("<b>7</b>", "请以整数年填写期限，例如 5。"),
    ],
)
def test_a_period_that_cannot_be_is_refused_with_what_was_typed_kept(auth, db, typed, message):
    auth.login("admin")
    page = auth.client.get(PAGE, headers=ZH).get_data(as_text=True)
    response = auth.client.post(
        PAGE, data=_fields(page, work_style="10", misuse_of_funds=typed), headers=ZH
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text and "部分期限无法保存" in text
    assert f'value="{escape(typed)}"' in text  # what was typed, shown back (escaped)
    assert 'value="10"' in text  # and the other fields too
    assert "<b>7</b>" not in text
    with db() as session:  # nothing saved, not even the good one
        assert session.scalar(select(func.count()).select_from(RetentionPeriod)) == 0
    assert _changes(db) == 0


def test_a_field_left_out_of_the_form_is_refused_and_no_period_changes(auth, db):
    auth.login("admin")
    page = auth.client.get(PAGE).get_data(as_text=True)
    assert auth.client.post(PAGE, data=_fields(page, work_style="10")).status_code == 303
    page = auth.client.get(PAGE).get_data(as_text=True)
    only_token = {"retention-csrf_token": csrf_token(page)}
    refused = auth.client.post(PAGE, data=only_token, headers=ZH)
    assert refused.status_code == 400
    assert "缺少此项" in refused.get_data(as_text=True)
    one_left_out = _fields(page, other="12")
    del one_left_out["retention-years_work_style"]
    refused = auth.client.post(PAGE, data=one_left_out, headers=ZH)
    assert refused.status_code == 400
    assert 'value="12"' in refused.get_data(as_text=True)  # what was typed is kept
    with db() as session:
        assert session.get(RetentionPeriod, "work_style").years == 10
        assert session.get(RetentionPeriod, "other") is None
    assert _changes(db) == 1
