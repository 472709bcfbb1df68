"""An administrator, in Chromium, adds a unit (第二炼钢厂), a report category (安全生产) and an
inspector for the unit's parent's discipline office; the new inspector, in a browser of their
own, opens the enrolment with the one-time code, checks that the QR code holds the key URI of
the TOTP secret shown beside it, chooses a password, confirms a code and signs in with password
and TOTP. A worker then sends a report about the new unit in the new category from the public
site, and the new inspector finds it in the inbox filtered by the new category and reads it.
axe-core finds no WCAG 2.1 A/AA violation on the administration pages met on the way."""

from __future__ import annotations

import re
import time

import pytest
import segno
from playwright.sync_api import expect
from sqlalchemy import select

from app.models import AuditEntry, Unit
from app.services import staff as staff_service
from app.services.demo import DEMO_LOGINS
from tests.helpers.accessibility import assert_accessible

pytestmark = pytest.mark.browser

PASSWORD = "王芳自己选的口令 steel-2026"
WHAT = "第二炼钢厂转炉平台护栏锈断两处，班长要求照常作业，已有人险些坠落。"


def _qr_modules(uri: str) -> str:
    """The path of a QR code's dark modules, as the enrolment page draws one (segno)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=2)
    return re.search(r' d="([^"]+)"', svg).group(1)


def _submit(page, selector: str) -> None:
    """Press a form's button once the form's proof of work (the report form's) is done."""
    for form in page.locator("form[data-pow-challenge]").all():
        expect(form).to_have_attribute("data-pow-done", "1", timeout=120_000)
    with page.expect_navigation():
        page.locator(selector).click()


def test_admin_adds_a_unit_a_category_and_an_inspector_who_enrols_and_reads_a_report_there(
    browser, live_servers, sqlite_instance
):
    base = live_servers["console"].url
    admin_context = browser.new_context(java_script_enabled=True, locale="zh-CN")
    page = admin_context.new_page()
    login = next(login for login in DEMO_LOGINS if login.username == "admin")
    page.goto(base + "/login")
    page.locator("[name=username]").fill(login.username)
    page.locator("[name=password]").fill(login.password)
    page.locator("[name=code]").fill(staff_service.totp_now(login.totp_secret))
    _submit(page, "form:has([name=password]) button[type=submit]")

    page.goto(base + "/admin/")
    assert_accessible(page, "administration")
    page.get_by_role("link", name="单位和纪检机构").click()
    assert_accessible(page, "unit tree")
    page.locator("[name=unit-code]").fill("mch-steel2")
    page.locator("[name=unit-name_zh]").fill("第二炼钢厂")
    page.locator("[name=unit-name_en]").fill("No. 2 Steelworks")
    page.locator("[name=unit-kind]").select_option("workshop")
    page.locator("[name=unit-parent]").select_option(label="华夏重型机械有限公司 (MCH)")
    _submit(page, "form[action$='/admin/units/'] button[type=submit]")
    assert "已添加单位" in page.content() and "第二炼钢厂" in page.content()
    assert_accessible(page, "unit added")

    page.goto(base + "/admin/")
    page.get_by_role("link", name="举报类别").click()
    assert_accessible(page, "report categories")
    page.locator("[name=new-code]").fill("work_safety")
    page.locator("[name=new-name_zh]").fill("安全生产")
    page.locator("[name=new-name_en]").fill("Work safety")
    _submit(page, "form[action$='/admin/report-categories'] button[type=submit]")
    assert "安全生产" in page.locator("main").inner_text()
    assert_accessible(page, "report category added")

    page.goto(base + "/admin/staff/new")
    assert_accessible(page, "new staff account")
    page.locator("[name=user-username]").fill("wang.fang")
    page.locator("[name=user-display_name]").fill("纪检员 王芳")
    page.locator("[name=user-roles][value=inspector]").check()
    page.locator("[name=user-unit]").select_option("MCH-STEEL2")
    page.locator("[name=user-office]").select_option("MCH")
    _submit(page, "form[action$='/admin/staff/'] button[type=submit]")
    assert "不会再次显示" in page.content()
    code = page.locator("code.enrolment-code").inner_text()
    assert_accessible(page, "enrolment code")
    admin_context.close()

    owner_context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    owner = owner_context.new_page()
    owner.goto(base + "/enrol")
    owner.locator("[name=username]").fill("wang.fang")
    owner.locator("[name=code]").fill(code)
    _submit(owner, "form button[type=submit]")
    assert owner.locator(".totp-qr svg").count() == 1  # the QR code, drawn on the server
    secret = owner.locator("code.secret").inner_text().replace(" ", "")
    # What an authenticator app reads from the QR code: the key URI of this account's secret
    # (the same dark modules as a QR code of that URI drawn here).
    drawn = owner.locator(".totp-qr svg path").first.get_attribute("d")
    assert drawn == _qr_modules(
        f"otpauth://totp/SOE%20Portal%3Awang.fang?secret={secret}"
        "&issuer=SOE+Portal&digits=6&period=30"
    )
    owner.locator("[name=password]").fill(PASSWORD)
    owner.locator("[name=repeat]").fill(PASSWORD)
    owner.locator("[name=code]").fill(staff_service.totp_now(secret))
    _submit(owner, "form button[type=submit]")
    assert owner.locator("ol.recovery-codes li").count() == 10
    owner.goto(base + "/")
    _submit(owner, "form[action$='/logout'] button[type=submit]")

    # A sign-in with the password and the next TOTP code (a code is accepted once).
    owner.goto(base + "/login")
    owner.locator("[name=username]").fill("wang.fang")
    owner.locator("[name=password]").fill(PASSWORD)
    owner.locator("[name=code]").fill(staff_service.totp_now(secret, time.time() + 30))
    _submit(owner, "form:has([name=password]) button[type=submit]")
    assert "/login" not in owner.url
    assert "纪检员 王芳" in owner.content() or "wang.fang" in owner.content()

    # A worker reports about the new unit in the new category, from the public site.
    public = live_servers["public"].url
    worker_context = browser.new_context(java_script_enabled=True, locale="zh-CN")
    worker = worker_context.new_page()
    worker.goto(public + "/report/new")
    worker.locator("input[name=kind][value=misconduct]").check()
    worker.locator("select[name=category]").select_option(label="安全生产")
    worker.locator("input[name=unit][value=MCH-STEEL2]").check()
    worker.locator("input[name=level][value=staff]").check()
    worker.locator("[name=what]").fill(WHAT)
    _submit(worker, "button[name=send]")
    assert worker.locator(".receipt-code").count() == 1, worker.locator("main").inner_text()
    worker_context.close()

    # The new inspector, with the key made at enrolment, finds it and reads it.
    owner.goto(base + "/cases/?category=work_safety")
    rows = owner.locator("main table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("第二炼钢厂")
    with owner.expect_navigation():
        rows.first.locator("a[href^='/cases/']").first.click()
    expect(owner.locator("main")).to_contain_text(WHAT)
    expect(owner.locator("main")).to_contain_text("第二炼钢厂")
    expect(owner.locator("main")).to_contain_text("安全生产")
    owner_context.close()

    app = sqlite_instance.app("console")
    with app.extensions["portal.db"].session() as session:
        unit = session.scalar(select(Unit).where(Unit.code == "MCH-STEEL2"))
        assert unit is not None and unit.parent.code == "MCH"
        user = staff_service.by_username(session, "wang.fang")
        assert user.unit_id == unit.id and user.office.unit.code == "MCH"
        assert user.age_recipient  # the key reports are encrypted to, made at enrolment
        details = list(
            session.scalars(select(AuditEntry.detail).where(AuditEntry.actor_username == "admin"))
        )
        assert "unit MCH-STEEL2 added" in details
        assert "added; enrolment code issued" in details
        assert any("work_safety" in detail for detail in details)
