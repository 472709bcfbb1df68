"""Reports in Chromium: the safety page, the form on a phone, with and without JavaScript."""

from playwright.sync_api import expect

from app.reports.pow import solves

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
