"""History diffs: correct for any texts, and bounded in cost for the worst shapes."""

from __future__ import annotations

import html
import random
import re

import pytest

from app.memo import TextMemo
from app.models import Disclosure
from app.public.disclosures.diff import (
    DIFF_MAX_CHARS,
    INLINE_MAX_CHARS,
    Deadline,
    diff_html,
    markdown_diff_html,
)
from app.services.disclosures import drafting, reviewing
from tests.helpers.disclosures import publish_item, sign_log, staff

ROW = re.compile(r'<div class="diff-line( diff-(changed|removed|added))?">(.*?)</div>', re.S)
ZH = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch):
    # Each test compares afresh: a remembered result would hide the budget it was made under.
    monkeypatch.setattr("app.public.disclosures.diff._DIFFS", TextMemo())


def side(markup: str, keep: str) -> str:
    """One side of a diff as a reader sees it: drop the other side's marks, join the lines."""
    drop = "ins" if keep == "del" else "del"
    lines = []
    for _whole, kind, content in ROW.findall(str(markup)):
        if kind == ("added" if keep == "del" else "removed"):
            continue
        content = re.sub(rf"<{drop}>.*?</{drop}>", "", content, flags=re.S)
        content = content.replace(f"<{keep}>", "").replace(f"</{keep}>", "")
        assert "<" not in content  # everything else is escaped text
        lines.append(html.unescape(content))
    return "\n".join(lines)


def shapes() -> list[tuple[str, str, str]]:
    rng = random.Random(7)
    zh_line = "".join(rng.choice(ZH) for _ in range(30_000))
    zh_other = "".join(rng.choice(ZH) for _ in range(30_000))
    sparse = list(zh_line[:3_000])
    for i in range(0, len(sparse), 40):
        sparse[i] = "改"
    return [
        (
            "one changed figure",
            "中标金额为128.6万元。\n\n第二段。",
            "中标金额为126.8万元。\n\n第二段。",
        ),
        ("lines added and removed", "甲\n乙\n丙\n丁", "甲\n丙\n戊\n己\n丁"),
        ("empty lines", "\n\n\n", "\n"),
        ("markup in text", '<script>alert("x")</script>\n&amp;', "<b>粗</b>\n&lt;"),
        ("from nothing", "", "新增的正文。"),
        ("to nothing", "删除的正文。", ""),
        ("long single line, Chinese, no spaces", zh_line, zh_other),
        ("long line, sparse edits", zh_line[:3_000], "".join(sparse)),
        (
            "many short lines, other count",
            "\n".join(str(i % 3) for i in range(20_000)),
            "\n".join(str(i % 5) for i in range(9_000)),
        ),
        ("the same line many times", "同\n" * 15_000, "同\n" * 14_999 + "异"),
        (
            "long run of equal lines, ends changed",
            "c\n" + "a\n" * 49_000 + "d",
            "e\n" + "a\n" * 48_999 + "f",
        ),
        (
            "words",
            " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(8_000)),
            " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(8_000)),
        ),
        ("windows line ends", "一\r\n二\r\n三", "一\r\n三"),
    ]


@pytest.mark.parametrize(("old", "new"), [s[1:] for s in shapes()], ids=[s[0] for s in shapes()])
@pytest.mark.parametrize("budget", ["page", "spent"])
def test_each_side_of_the_diff_reads_back_as_its_text(old, new, budget):
    deadline = Deadline() if budget == "page" else Deadline(0)
    markup = diff_html(old, new, deadline)
    assert side(markup, "del") == old.replace("\r\n", "\n")
    assert side(markup, "ins") == new.replace("\r\n", "\n")


def test_small_changes_are_marked_character_by_character():
    markup = str(diff_html("中标金额为128.6万元。\n第二段。", "中标金额为126.8万元。\n第二段。"))
    assert '<div class="diff-line diff-changed">中标金额为12' in markup
    assert "<del>" in markup and "<ins>" in markup and "<del>中标" not in markup
    assert '<div class="diff-line">第二段。</div>' in markup


def test_large_changed_blocks_are_shown_whole_not_compared_by_character():
    rng = random.Random(1)
    old = "".join(rng.choice(ZH) for _ in range(INLINE_MAX_CHARS))
    new = old[:100] + "改" + old[101:]
    rows = ROW.findall(str(diff_html(old, new)))
    assert [kind for _w, kind, _c in rows] == ["removed", "added"]


def test_once_the_page_budget_is_spent_changes_are_shown_whole():
    markup = str(diff_html("第一行\n第二行", "第一行\n第二行改", Deadline(0)))
    assert '<div class="diff-line diff-removed"><del>第二行</del></div>' in markup
    assert '<div class="diff-line diff-added"><ins>第二行改</ins></div>' in markup


def test_texts_beyond_the_cap_are_not_compared():
    half = DIFF_MAX_CHARS // 2
    assert diff_html("甲" * half, "乙" * (half + 1)) is None
    assert diff_html("甲" * half, "乙" * half) is not None


def test_history_of_texts_too_large_to_compare_shows_both(db, demo, public_app, monkeypatch):
    monkeypatch.setattr("app.public.disclosures.diff.DIFF_MAX_CHARS", 3_000)
    big_old = "旧" * 1_500
    big_new = "新" * 1_501
    d_id = publish_item(db, body=big_old)
    with db() as session:
        disclosure = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        drafting.start_amendment(session, disclosure, author)
        drafting.update_draft(
            session,
            disclosure,
            author,
            drafting.DraftFields(
                title=disclosure.public_title,
                body=big_new,
                category=disclosure.category,
                unit=disclosure.unit,
            ),
            reason="更正",
        )
        drafting.submit_for_review(session, disclosure, author)
        reviewing.approve(session, disclosure, staff(session, "approver"))
    sign_log(db)
    page = public_app.test_client().get(f"/disclosures/{d_id}/history?lang=en")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "too large to compare" in text
    assert big_old[:1000] in text and big_new[:1000] in text
    assert text.count("<details") == 2


def test_no_step_runs_outside_the_deadline(monkeypatch):
    """diff-match-patch's "half match" looks for a common middle before any deadline check
    (seconds on long runs of equal lines); it must never run."""
    from diff_match_patch import diff_match_patch

    original = diff_match_patch.diff_halfMatch

    def refuse(self, *args):
        found = original(self, *args)
        assert found is None, "half match ran"
        return found

    monkeypatch.setattr(diff_match_patch, "diff_halfMatch", refuse)
    old, new = "c\n" + "a\n" * 49_000 + "d", "e\n" + "a\n" * 48_999 + "f"
    assert side(diff_html(old, new), "ins") == new
    assert side(diff_html("甲乙丙丁" * 500, "甲乙丙戊" * 500), "ins") == "甲乙丙戊" * 500


def test_a_pair_of_texts_is_compared_once(monkeypatch):
    from diff_match_patch import diff_match_patch

    calls = []
    original = diff_match_patch.diff_main

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(diff_match_patch, "diff_main", counting)
    first = diff_html("第一版正文。", "第二版正文。")
    count = len(calls)
    assert count > 0
    assert diff_html("第一版正文。", "第二版正文。") == first
    assert len(calls) == count


# Bodies are Markdown: their changes are shown rendered, never as Markdown source.


@pytest.fixture
def _fresh_markdown_memo(monkeypatch):
    monkeypatch.setattr("app.public.disclosures.diff._MARKDOWN_DIFFS", TextMemo())


MARKDOWN_CHANGES = [
    # In place, inside bold text, a table cell and a list item.
    (
        "金额 **128.6万元**。",
        "金额 **126.8万元**。",
        "<strong>12<del>8.6</del><ins>6.8</ins>万元</strong>",
    ),
    (
        "| 项目 | 金额 |\n| --- | --- |\n| 车 | 4.2 |",
        "| 项目 | 金额 |\n| --- | --- |\n| 车 | 4.5 |",
        "<td>4.<del>2</del><ins>5</ins></td>",
    ),
    ("1. 甲\n2. 乙", "1. 甲\n2. 丙", "<li><del>乙</del><ins>丙</ins></li>"),
    # A change of the markup itself: the block removed and added whole, both rendered.
    (
        "金额 **12** 万元",
        "金额 12 万元",
        '<del class="diff-block"><p>金额 <strong>12</strong> 万元</p>',
    ),
    # A link's address: never a mark inside a tag.
    (
        "见[通知](https://a.example/1)。",
        "见[通知](https://a.example/2)。",
        '<ins class="diff-block"><p>见<a href="https://a.example/2">通知</a>',
    ),
    # A character reference: shown as the character, not as its source.
    ("文字 &amp; 符号", "文字 &lt; 符号", '<ins class="diff-block"><p>文字 &lt; 符号</p>'),
]


@pytest.mark.usefixtures("_fresh_markdown_memo")
@pytest.mark.parametrize(("old", "new", "expected"), MARKDOWN_CHANGES)
def test_markdown_changes_are_rendered_text(old, new, expected):
    rendered = str(markdown_diff_html(old, new))
    assert expected in rendered
    assert "**" not in rendered and "](" not in rendered and "| ---" not in rendered


@pytest.mark.usefixtures("_fresh_markdown_memo")
def test_markdown_changes_are_cleaned_like_the_page():
    old = "第一段。\n\n第二段。"
    new = '第一段。\n\n<script>alert("历史")</script>\n\n[点此](javascript:alert(1))\n\n第二段。'
    rendered = str(markdown_diff_html(old, new))
    assert "<script" not in rendered and 'href="javascript' not in rendered
    assert '<div class="diff-block"><p>第一段。</p>' in rendered
    assert rendered.count('<ins class="diff-block">') == 2
    # Marks in a text of its own (private-use characters) are not taken for ours.
    marked = str(markdown_diff_html("甲\ue000乙", "甲\ue002乙<b>"))
    assert "<b>" not in marked and "<ins>" not in marked.replace('<ins class="diff-block">', "")


@pytest.mark.usefixtures("_fresh_markdown_memo")
def test_markdown_texts_too_large_are_not_compared():
    big = "字" * (DIFF_MAX_CHARS // 2 + 1)
    assert markdown_diff_html(big, big + "。") is None
