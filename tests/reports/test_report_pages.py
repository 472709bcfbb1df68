"""The reporter's pages before anything is sent: safety page, form, receipt entry."""

import re

import pytest

from app.models import Unit

REPORT_PAGES = ["/report/", "/report/new", "/report/follow-up"]


def test_the_safety_page_says_what_is_at_stake_in_both_languages(public_app):
    client = public_app.test_client()
    zh = client.get("/report/").get_data(as_text=True)
    for words in (
        "公司的电脑、手机和网络可能记录",  # company devices and networks may record the visit
        "不连接公司网络的私人设备",  # prefer a private device off the company network
        "收到的日期（不含具体时间）",  # what is stored: the date, not the time
        "您的网络地址、浏览器或设备",  # what is never stored
        "回执码丢失后无法找回",  # the receipt code cannot be recovered
    ):
        assert words in zh
    en = client.get("/report/?lang=en").get_data(as_text=True)
    for words in (
        "Company computers, phones and networks may record",
        "a private device that is not connected to the company network",
        "The date (not the time) it arrived",
        "Your network address, your browser or device, and the time of day",
        "The receipt code cannot be recovered",
    ):
        assert words in en


def test_the_home_page_leads_to_the_safety_page_first(public_app):
    home = public_app.test_client().get("/").get_data(as_text=True)
    supervision = home[home.index('id="h-supervision"') :]
    assert 'href="/report/"' in supervision
    assert 'href="/report/new"' not in home  # the form only after the safety page


@pytest.mark.parametrize("path", REPORT_PAGES)
def test_report_pages_are_never_kept_by_the_browser(public_app, path):
    response = public_app.test_client().get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_form_offers_every_unit_without_script_and_keeps_free_text_out_of_autofill(
    demo, public_app
):
    page = public_app.test_client().get("/report/new").get_data(as_text=True)
    # One script, our own, deferred: the proof of work. The form works without it.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/js/pow.js" defer>']
    with public_app.extensions["portal.db"].session() as session:
        codes = [code for (code,) in session.query(Unit.code)]
    assert len(codes) >= 10
    for code in codes:
        assert f'type="radio" name="unit" id="unit-{code}" value="{code}"' in page
    assert "华夏重型机械有限公司" in page and "铸造车间" in page
    for name in ("persons", "what", "when", "where", "witnesses", "real_name", "contact"):
        tag = re.search(rf'<(?:textarea|input)[^>]*name="{name}"[^>]*>', page)
        assert tag and 'autocomplete="off"' in tag.group(), name
    # The field bots fill: out of sight and out of the tab order.
    hidden = re.search(r'<div class="leave-empty" aria-hidden="true">(.*?)</div>', page, re.S)
    assert hidden and 'name="leave_empty"' in hidden.group(1)
    assert 'autocomplete="off"' in hidden.group(1) and 'tabindex="-1"' in hidden.group(1)
    assert 'enctype="multipart/form-data"' in page
