"""Disclosures in a real browser without JavaScript: two-person publishing, reading on a phone."""

import re

from playwright.sync_api import expect

from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now

PHONE = {"width": 375, "height": 740}


def sign_in(page, console_url, username):
    login = next(login for login in DEMO_LOGINS if login.username == username)
    page.goto(console_url + "/login?lang=en")
    page.get_by_label("Username").fill(login.username)
    page.get_by_label("Password").fill(login.password)
    page.get_by_label("Authenticator code").fill(totp_now(login.totp_secret))
    page.get_by_role("button", name="Sign in").click()
    # Assertions through expect wait for the navigation a click starts to finish.
    expect(page).not_to_have_url(re.compile("/login"))


def fits_the_screen(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_draft_review_publish_and_read_on_a_phone(browser, live_servers):
    console = live_servers["console"].url
    public = live_servers["public"].url
    title = "二〇二六年食堂改造项目招标结果公示"

    publisher = browser.new_context(java_script_enabled=False).new_page()
    sign_in(publisher, console, "publisher")
    publisher.goto(console + "/publish/new")
    publisher.get_by_label("Title").fill(title)
    publisher.get_by_label("Category").select_option(label="Procurement and bidding")
    publisher.get_by_label("Unit").select_option(index=1)
    publisher.get_by_label("Text (Markdown)").fill(
        "## 中标单位\n\n| 标段 | 单位 |\n|---|---|\n| 一标段 | 华夏建设 |\n\n"
        "<script>alert(1)</script>"
    )
    publisher.get_by_role("button", name="Save and submit for review").click()
    expect(publisher).to_have_url(re.compile(r"/publish/\d+$"))
    expect(publisher.get_by_role("heading", name=title)).to_be_visible()

    approver = browser.new_context(java_script_enabled=False).new_page()
    sign_in(approver, console, "approver")
    approver.goto(publisher.url)
    approver.get_by_role("button", name="Approve").click()
    expect(approver.get_by_role("button", name="Approve")).to_have_count(0)

    reader = browser.new_context(java_script_enabled=False, viewport=PHONE).new_page()
    reader.goto(public + "/?lang=en")
    reader.get_by_role("link", name=title).first.click()
    expect(reader.get_by_role("heading", name=title)).to_be_visible()
    assert reader.locator("main table").count() == 1  # the Markdown table is rendered
    assert reader.locator("script").count() == 0  # and the script is gone
    assert fits_the_screen(reader)

    reader.goto(public + "/disclosures/")
    reader.get_by_label("Category").select_option(label="Procurement and bidding")
    reader.get_by_role("button", name="Show").click()
    expect(reader).to_have_url(re.compile(r"category="))
    expect(reader.get_by_role("link", name=title)).to_have_count(1)
    assert fits_the_screen(reader)

    reader.goto(public + "/")
    reader.get_by_role("searchbox").fill("招标")
    with reader.expect_navigation():
        reader.get_by_role("searchbox").press("Enter")
    assert "/search" in reader.url
    expect(reader.locator("mark", has_text="招标").first).to_be_visible()
    assert fits_the_screen(reader)
    for context in (publisher.context, approver.context, reader.context):
        context.close()
