"""Reports in Chromium: the safety page, the form on a phone, with and without JavaScript."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.models import Report, StaffUser
from app.public.reports.pow import solves
from app.services.reports import messages
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS

PHONE = {"width": 375, "height": 740}


def fits_the_screen(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_the_form_s_script_solves_the_challenge_the_server_checks(browser, live_servers):
    public = live_servers["public"].url
    page = browser.new_context(java_script_enabled=True, viewport=PHONE).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(public + "/report/new")
    form = page.locator("form[data-pow-challenge]")
    expect(form).to_have_attribute("data-pow-done", "1", timeout=30_000)
    challenge = form.get_attribute("data-pow-challenge")
    bits = int(form.get_attribute("data-pow-bits"))
    nonce = page.locator("input[name=pow_nonce]").input_value()
    assert bits >= 16 and solves(challenge, nonce, bits)
    assert not errors
    assert fits_the_screen(page)


def test_from_the_home_page_to_the_form_on_a_phone_without_script(browser, live_servers):
    public = live_servers["public"].url
    page = browser.new_context(java_script_enabled=False, viewport=PHONE, locale="zh-CN").new_page()
    page.goto(public + "/")
    page.get_by_role("link", name="我要举报").click()
    expect(page.get_by_role("heading", name="举报前请阅读")).to_be_visible()
    assert fits_the_screen(page)
    page.get_by_role("link", name="我已了解，开始填写").click()
    expect(page.get_by_role("heading", name="填写举报")).to_be_visible()
    page.get_by_label("铸造车间").check()  # a unit deep in the tree, chosen without script
    assert page.get_by_label("铸造车间").is_checked()
    assert page.locator("input[name=pow_nonce]").input_value() == ""
    assert fits_the_screen(page)


CANARY = "金丝雀-浏览器-举报正文-3b7e"
REPLY = "补充：过磅单在仓库二楼的柜子里。"


def _office_writes(instance, text: str) -> None:
    """What the console will do: an inspector of the routed office writes to the reporter."""
    app = instance.app("console")
    with app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        inspector = session.scalar(select(StaffUser).where(StaffUser.username == "mch.inspector"))
        messages.post_office_message(
            session, app.extensions["portal.blobs"], report, inspector, text, [], report.received_on
        )
        session.commit()


@pytest.mark.parametrize("script", [False, True], ids=["no-script", "script"])
def test_from_the_safety_page_to_the_receipt_and_a_reply_on_a_phone_leaving_nothing_behind(
    playwright, live_servers, sqlite_instance, tmp_path, script
):
    public = live_servers["public"].url
    profile = tmp_path / "profile"
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        java_script_enabled=script,
        viewport=PHONE,
        locale="zh-CN",
    )
    evidence = tmp_path / "废钢过磅单（复印件）.txt"
    evidence.write_text(f"过磅记录 {CANARY}", encoding="utf-8")
    page = context.new_page()
    page.goto(public + "/report/")
    page.get_by_role("link", name="我已了解，开始填写").click()
    page.get_by_label("检举控告").check()
    page.get_by_label("类别").select_option(label="采购与招投标")
    page.get_by_label("铸造车间").check()
    page.get_by_label("普通职工").check()
    page.get_by_label("被反映人").fill(f"采购员 王某 {CANARY}")
    # Who reads at the office, to keep one out: the form comes back with everything typed.
    page.get_by_role("button", name="显示受理部门的负责人和纪检人员").click()
    # The page that comes back lists them (waited for: the typed value is on the old page too).
    expect(page.locator("input[name=excluded]").first).to_be_attached()
    expect(page.get_by_label("被反映人")).to_have_value(f"采购员 王某 {CANARY}")
    assert page.get_by_label("铸造车间").is_checked()
    page.get_by_label("反映的问题").fill(f"废钢采购虚报重量。{CANARY}")
    assert page.get_by_label("保留一份副本，我可凭回执码查看").is_checked()  # the default
    page.locator("input[type=file]").set_input_files(str(evidence))
    assert fits_the_screen(page)
    page.get_by_role("button", name="提交举报").click()
    expect(page.get_by_role("heading", name="您的举报已收到")).to_be_visible()
    code = "".join(page.locator(".receipt-code span").all_inner_texts())
    assert len(code) == 20 and code.isdigit()
    assert page.get_by_text("废钢过磅单（复印件）.txt").count() == 1
    assert fits_the_screen(page)

    _office_writes(sqlite_instance, "请问虚报的重量大约是多少？")
    page.goto(public + "/report/follow-up")
    typo = code[:19] + str((int(code[19]) + 1) % 10)
    page.get_by_label("回执码").fill(typo)
    page.get_by_role("button", name="打开").click()
    expect(page.get_by_text("此回执码无法打开任何举报")).to_be_visible()
    secrets_typed = [typo.encode()]
    page.get_by_label("回执码").fill(" ".join(code[i : i + 4] for i in range(0, 20, 4)))
    page.get_by_role("button", name="打开").click()
    expect(page.get_by_text("请问虚报的重量大约是多少？")).to_be_visible()
    # The copy was kept: the code alone shows the report as it was sent, and its file.
    expect(page.get_by_role("heading", name="您提交的内容")).to_be_visible()
    expect(page.get_by_text(f"废钢采购虚报重量。{CANARY}")).to_be_visible()
    expect(page.get_by_role("link", name="废钢过磅单（复印件）.txt")).to_be_visible()
    page.get_by_label("您的回复").fill(REPLY)
    page.get_by_role("button", name="发送").click()
    expect(page.get_by_text(REPLY)).to_be_visible()
    assert fits_the_screen(page)
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_text("您已退出")).to_be_visible()
    context.close()

    # Nothing of the report, the receipt or the thread stays in the browser's profile.
    secrets = [code.encode(), CANARY.encode(), REPLY.encode(), "请问虚报".encode(), *secrets_typed]
    secrets += [s.encode("utf-16-le") for s in (code, CANARY, REPLY)]
    for path in profile.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret not in data, f"{secret!r} stayed in {path.relative_to(profile)}"
