"""The two apps in a real browser, without JavaScript, under the strict CSP."""

import re

from playwright.sync_api import expect

from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now


def test_public_home_language_switch_and_no_csp_violations(page, live_servers):
    public = live_servers["public"].url
    page.goto(public + "/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.locator("h1").inner_text() == "厂务党务公开平台"
    # The stylesheet loaded under the CSP: the header has its colour.
    background = page.locator("header.site-header").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert background == "rgb(164, 22, 26)"
    page.get_by_role("link", name="English").click()
    # Assertions through expect wait for the navigation a click starts to finish.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(public + "/")
    assert page.locator("h1").inner_text() == "Open affairs portal"
    assert not [m for m in page.console_messages_seen if "Content Security Policy" in m]


def test_console_login_with_password_and_code(page, live_servers):
    console = live_servers["console"].url
    admin = next(login for login in DEMO_LOGINS if login.username == "admin")
    page.goto(console + "/login?lang=en")
    page.goto(console + "/admin/")
    assert "/login" in page.url
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The username, password or code is not correct.")
    # What the user typed is kept, except the secret fields.
    assert page.get_by_label("Username").input_value() == admin.username
    page.get_by_label("Password").fill(admin.password)
    page.get_by_label("Authenticator code").fill(totp_now(admin.totp_secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Staff accounts")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/login"))
