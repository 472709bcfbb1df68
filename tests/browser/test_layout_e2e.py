"""How the report pages and the forms of both apps look in Chromium, measured, not eyeballed:
radio buttons and checkboxes beside their labels, a receipt code that never breaks inside a
group and copies as digits, the exclusions step that keeps the reporter's place, secondary
buttons that do not look like the main one."""

import re

import pytest
from playwright.sync_api import expect

from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now

SIZES = {"wide": {"width": 1200, "height": 900}, "phone": {"width": 375, "height": 740}}
LANGUAGES = {"zh": "zh-CN", "en": "en-US"}

# Each visible radio button or checkbox, its box and the first line of its label's text.
BOXES_AND_LABELS = """
boxes => boxes.filter(box => box.getClientRects().length).map(box => {
  const label = box.labels[0];
  const text = document.createRange();
  text.selectNodeContents(label);
  const line = text.getClientRects()[0];
  const r = box.getBoundingClientRect();
  return {label: label.textContent.trim(), box: [r.left, r.top, r.right, r.bottom],
          line: [line.left, line.top, line.right, line.bottom]};
})
"""


def assert_beside_their_labels(page) -> int:
    """Every radio button and checkbox of the page stands left of its label, centred on the
    label's first line; returns how many there are."""
    found = page.locator("input[type=radio], input[type=checkbox]").evaluate_all(BOXES_AND_LABELS)
    for each in found:
        _left, top, right, bottom = each["box"]
        line_left, line_top, _line_right, line_bottom = each["line"]
        off_centre = abs((top + bottom) / 2 - (line_top + line_bottom) / 2)
        assert off_centre <= 3, f"{each['label']}: {off_centre:.1f} px off its label's line"
        assert right <= line_left <= right + 20, f"{each['label']}: not just left of its label"
    return len(found)


def fits_the_screen(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def _new_page(browser, size: str, language: str, **options):
    context = browser.new_context(
        java_script_enabled=False, viewport=SIZES[size], locale=LANGUAGES[language], **options
    )
    return context.new_page()


def _choose_unit_and_level(page) -> None:
    page.locator("#unit-MCH-W1").check()
    page.locator("input[name=level]").first.check()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("size", SIZES)
def test_every_radio_and_checkbox_of_the_report_form_sits_beside_its_label(
    browser, live_servers, size, language
):
    page = _new_page(browser, size, language)
    page.goto(live_servers["public"].url + "/report/new")
    boxes = assert_beside_their_labels(page)
    # Every radio button and the reporter's copy's checkbox is measured.
    assert boxes == page.locator("input[type=radio], input[type=checkbox]").count() >= 11
    assert page.locator("input[name=reporter_copy]").is_visible()
    _choose_unit_and_level(page)
    page.locator("button[name=show_inspectors]").click()
    expect(page.locator("input[name=excluded]").first).to_be_visible()
    assert assert_beside_their_labels(page) > boxes  # the people to keep out, too
    assert fits_the_screen(page)


def test_the_unit_tree_is_one_tree_in_one_box(browser, live_servers):
    page = _new_page(browser, "phone", "zh")
    page.goto(live_servers["public"].url + "/report/new")
    tree = page.locator(".report-form fieldset").filter(has=page.locator("input[name=unit]"))
    scrolling = tree.locator("*").evaluate_all(
        """els => els.filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowY)
                                 || getComputedStyle(e).borderTopStyle !== 'none').length"""
    )
    assert scrolling <= 1  # at most the one box around the whole tree
    # A level deeper is indented further: the tree reads as a tree.
    group = page.locator("#unit-GRP").bounding_box()["x"]
    subsidiary = page.locator("#unit-MCH").bounding_box()["x"]
    workshop = page.locator("#unit-MCH-W1").bounding_box()["x"]
    assert group < subsidiary < workshop


def _console_sign_in(page, console: str) -> None:
    admin = next(login for login in DEMO_LOGINS if login.username == "admin")
    page.goto(console + "/login")
    page.locator("input[name=username]").fill(admin.username)
    page.locator("input[name=password]").fill(admin.password)
    page.locator("input[name=code]").fill(totp_now(admin.totp_secret))
    page.locator("button[type=submit]").click()
    expect(page).not_to_have_url(re.compile("/login"))


@pytest.mark.parametrize("size", SIZES)
def test_the_console_s_checkboxes_sit_beside_their_labels(browser, live_servers, size):
    page = _new_page(browser, size, "zh")
    console = live_servers["console"].url
    _console_sign_in(page, console)
    page.goto(console + "/admin/disclosures/")
    assert assert_beside_their_labels(page) >= 1  # "in use" of a category
    assert fits_the_screen(page)


def _send_a_report(page, public: str) -> None:
    page.goto(public + "/report/new")
    page.locator("input[name=kind]").first.check()
    page.locator("select[name=category]").select_option(index=1)
    _choose_unit_and_level(page)
    page.locator("textarea[name=what]").fill("仓库账实不符，废钢过磅单与入库单差两吨。")
    page.locator("button[name=send]").click()
    expect(page.locator(".receipt-code")).to_be_visible()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_receipt_code_never_breaks_inside_a_group_and_copies_as_digits(
    browser, live_servers, language
):
    page = _new_page(
        browser,
        "phone",
        language,
        permissions=["clipboard-read", "clipboard-write"],
    )
    page.set_viewport_size({"width": 320, "height": 640})
    _send_a_report(page, live_servers["public"].url)
    code = page.locator(".receipt-code")
    groups = code.locator("span")
    assert groups.count() == 5
    # Each group is one line box: nothing of it wraps to the next line.
    assert groups.evaluate_all("els => els.map(e => e.getClientRects().length)") == [1] * 5
    tops = {round(box["y"]) for box in (groups.nth(i).bounding_box() for i in range(5))}
    assert len(tops) >= 2  # at 320 px the groups take several lines, broken between them
    assert code.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 24
    assert fits_the_screen(page)
    digits = "".join(groups.all_inner_texts())
    assert re.fullmatch(r"\d{20}", digits)
    # One click selects the whole code; what is selected, and copied, is its digits.
    code.click()
    assert page.evaluate("() => getSelection().toString()").strip() == digits
    page.keyboard.press("Control+C")
    assert page.evaluate("() => navigator.clipboard.readText()").strip() == digits
    shown_once = "只显示这一次" if language == "zh" else "shown only once"
    expect(page.locator("main")).to_contain_text(shown_once)


def test_showing_who_reads_keeps_the_reporter_s_place_and_words(browser, live_servers, tmp_path):
    page = _new_page(browser, "phone", "zh")
    page.goto(live_servers["public"].url + "/report/new")
    # The step comes before the files, and says why.
    assert page.evaluate(
        """() => !!(document.querySelector('#exclusions').compareDocumentPosition(
                   document.querySelector('input[type=file]'))
                 & Node.DOCUMENT_POSITION_FOLLOWING)"""
    )
    expect(page.locator("#exclusions")).to_contain_text("文件")
    _choose_unit_and_level(page)
    page.locator("textarea[name=persons]").fill("采购员 王某")
    page.locator("button[name=show_inspectors]").click()
    expect(page.locator("input[name=excluded]").first).to_be_visible()
    # Back at the step, not at the top of the page, with the chosen unit in sight.
    assert page.url.endswith("/report/new#exclusions")
    step = page.locator("#exclusions").bounding_box()
    assert 0 <= step["y"] <= 50
    assert page.evaluate("() => window.scrollY") > 300
    chosen = page.locator("#exclusions .chosen").get_by_text("铸造车间")
    expect(chosen).to_be_in_viewport()
    assert page.locator("#unit-MCH-W1").is_checked()
    assert page.locator("textarea[name=persons]").input_value() == "采购员 王某"


@pytest.mark.parametrize("size", SIZES)
def test_secondary_buttons_do_not_look_like_the_main_one(browser, live_servers, size):
    page = _new_page(browser, size, "zh")
    page.goto(live_servers["public"].url + "/report/new")
    style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
    main = page.locator("button[name=send]").evaluate(style)
    secondary = page.locator("button[name=show_inspectors]").evaluate(style)
    assert main[0] == "rgb(164, 22, 26)"
    assert secondary[0] != main[0] and secondary[1] != main[1]
