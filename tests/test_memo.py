"""Remembered renderings: Markdown and diffs are paid for once per text, within bounds."""

from __future__ import annotations

import re

from app.memo import TextMemo
from app.services import sanitize


def test_markdown_is_cleaned_once_per_text(monkeypatch):
    monkeypatch.setattr(sanitize, "_RENDERED", TextMemo())
    calls = []
    original = sanitize._cleaner.clean

    def counting(html):
        calls.append(html)
        return original(html)

    monkeypatch.setattr(sanitize._cleaner, "clean", counting)
    table = "| 姓名 | 金额 |\n| --- | --- |\n" + "| 张三 | 100 |\n" * 200
    first = sanitize.render_markdown(table)
    assert sanitize.render_markdown(table) == first
    assert len(calls) == 1
    assert "<table>" in first and "<script" not in sanitize.render_markdown("<script>x</script>")
    assert len(calls) == 2


def test_memo_keeps_within_its_entries_and_size():
    memo = TextMemo(max_entries=3, max_chars=100)
    for n in range(10):
        memo.get(lambda text: text * 2, f"第{n}条")
    assert len(memo) == 3
    memo.get(lambda text: text * 40, "长文本")  # 120 characters: larger than the whole memo
    assert len(memo) == 3
    big = TextMemo(max_entries=100, max_chars=100)
    for n in range(10):
        big.get(lambda text: text * 10, f"{n}号")  # 20 characters each
    assert len(big) == 5


def test_memo_tells_texts_apart_by_each_part():
    memo = TextMemo()
    assert memo.get(lambda a, b: a + "|" + b, "ab", "c") == "ab|c"
    assert memo.get(lambda a, b: a + "|" + b, "a", "bc") == "a|bc"


def test_markup_nested_too_deep_is_shown_as_plain_text(monkeypatch):
    monkeypatch.setattr(sanitize, "_RENDERED", TextMemo())
    calls = []
    original = sanitize._cleaner.clean
    monkeypatch.setattr(sanitize._cleaner, "clean", lambda html: calls.append(1) or original(html))
    deep = "*" * 20_000 + "<script>alert('招标')</script>" + "*" * 20_000
    shown = str(sanitize.render_markdown(deep))
    assert calls == []  # the cleaner, whose cost grows with the square of the depth, never ran
    assert shown.startswith('<p class="plain">***')
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    text = sanitize.markdown_to_text(deep)
    assert "alert('招标')" in text and "<em>" not in text
    # Ordinary nesting is rendered as Markdown.
    quoted = "> 第一层\n> > 第二层\n> > > **第三层**"
    assert "<blockquote>" in str(sanitize.render_markdown(quoted))
    assert sanitize.nesting_depth(str(sanitize.render_markdown(quoted))) <= sanitize.MAX_NESTING


def test_text_nested_past_the_parser_s_limit_is_shown_whole(monkeypatch):
    # markdown-it stops parsing blocks 20 levels down and drops the rest of the text.
    monkeypatch.setattr(sanitize, "_RENDERED", TextMemo())
    for deep in (
        ">" * 20 + " 最深处的文字\n\n之后的段落",
        ">" * 20_000 + " 最深处的文字\n\n之后的段落",
        "".join("  " * level + f"- 第{level}层\n" for level in range(12)) + "\n最深处的文字",
    ):
        shown = str(sanitize.render_markdown(deep))
        assert "最深处的文字" in shown and shown.startswith('<p class="plain">'), deep[:40]
        assert "最深处的文字" in sanitize.markdown_to_text(deep)
    # Just inside the limit, Markdown as usual.
    quoted = ">" * 19 + " 第十九层"
    assert str(sanitize.render_markdown(quoted)).count("<blockquote>") == 19
    assert sanitize.markdown_to_text(quoted) == "第十九层"


def test_long_tables_and_texts_are_cleaned_in_bounded_pieces(monkeypatch):
    # html5lib's cost grows with the square of a parent's children: no piece it cleans holds
    # a table body of more than ROWS_PER_BODY rows or more than BLOCKS_PER_PIECE blocks.
    monkeypatch.setattr(sanitize, "_RENDERED", TextMemo())
    cleaned = []
    original = sanitize._cleaner.clean
    monkeypatch.setattr(sanitize._cleaner, "clean", lambda h: cleaned.append(h) or original(h))
    rows = "".join(f"| 职工{n} | {n} |\n" for n in range(5000))
    table = "| 姓名 | 补贴 |\n| --- | --- |\n" + rows
    source = table + "\n" + "".join(f"第{n}段。\n\n" for n in range(1000))
    shown = str(sanitize.render_markdown(source))
    for piece in cleaned:
        bodies = re.findall(r"<tbody>(.*?)</tbody>", piece, re.DOTALL)
        assert all(body.count("<tr>") <= sanitize.ROWS_PER_BODY for body in bodies)
        top_level = re.sub(r"<table>.*?</table>", "<table/>", piece, flags=re.DOTALL)
        assert top_level.count("<p>") + top_level.count("<table/>") <= sanitize.BLOCKS_PER_PIECE
    assert len(cleaned) == 6
    # Nothing is lost: one table with every row, every paragraph, in order.
    assert shown.count("<table>") == 1 and shown.count("<tbody>") == 25
    assert shown.count("<tr>") == 5001 and "<td>职工4999</td>" in shown
    assert re.findall(r"<p>第(\d+)段。</p>", shown) == [str(n) for n in range(1000)]
    text = sanitize.markdown_to_text(source)
    assert "职工0" in text and "职工4999" in text and "第999段。" in text


def test_the_cleaner_s_walker_gives_what_bleach_s_own_gives():
    # The walker that finds a place among siblings in constant time changes nothing else.
    import random

    import bleach

    own = bleach.Cleaner(
        tags=sanitize.ALLOWED_TAGS,
        attributes=sanitize._allowed_attribute,
        protocols=sanitize.ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
    )
    parts = [
        "- 采购项目\n",
        "1. 第一项\n",
        "> 引用\n",
        ">> 更深\n",
        "\n",
        "**重点** *说明* `代码` [链接](https://gongkai.example/a)\n",
        "![图](/disclosures/1/attachments/2) ![外图](https://evil.example/x.png)\n",
        "| 姓名 | 金额 |\n| - | - |\n| 张三 | 100 |\n",
        "```\n<script>alert('招标')</script>\n```\n",
        "# 标题\n",
        "<b onclick=x>粗体</b>\n",
        "[坏链接](javascript:alert(1))\n",
        "  - 子项\n",
    ]
    rng = random.Random(2026)
    for _ in range(200):
        source = "".join(rng.choice(parts) for _ in range(rng.randint(1, 200)))
        rendered = sanitize._markdown.render(source)
        assert sanitize._cleaner.clean(rendered) == own.clean(rendered)
        plain = bleach.clean(rendered, tags=set(), strip=True, strip_comments=True)
        assert sanitize._text_cleaner.clean(rendered) == plain
