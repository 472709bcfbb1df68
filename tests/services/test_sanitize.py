"""The plain text of Markdown: the fast ways give what markdown-it and bleach give."""

from __future__ import annotations

import random
from datetime import date

import pytest

from app.services import sanitize
from bench.synthetic_disclosures import synthetic_item
from tests.disclosures.test_disclosure_safety import XSS


def reference(source: str) -> str:
    """The text through markdown-it and bleach's text cleaner, every time."""
    return sanitize._markdown_to_text(source, fast=False)


TRICKY = [
    "",
    "\n\n",
    "招标公告",
    "第一段。\n第一段第二行。\n\n\n\n第二段。",
    "\n\n前后有空行\n\n",
    "　　首行缩进两个全角空格。\n　　第二段也缩进。",
    "句中有　全角空格。",
    "行尾有全角空格　\n下一行",
    "行尾两个空格  \n硬换行",
    "行尾反斜杠\\\n硬换行",
    "1. 第一项\n2. 第二项",
    "1.5亿元的项目",
    "2024-05-01 公示",
    "- 一\n- 二\n  - 嵌套",
    "+ 加号列表",
    "# 标题\n\n正文",
    "标题\n===\n\n副标题\n---",
    "> 引用\n> > 嵌套引用",
    "    缩进四格是代码",
    "\t制表符开头",
    "句中\t制表符",
    "***\n---\n___",
    "**粗体** *斜体* ~~删除~~ `代码` _下划线_",
    "中标单位：**华东机械**，金额 12 万元。\n\nTender 12.",
    "| 单位 | 金额 |\n|---|---:|\n| 华东 | 12 |\n| 华北 | 8 |",
    "```python\nprint('<招标>')\n```",
    "```\n\n首行空的代码块\n```",
    "- 列表里的代码\n  ```\n\n  x\n  ```",
    '[链接](https://example.org "标题") <https://a.example/?q=1&r=2>',
    "[外层 <https://inner.example>](https://outer.example)",
    "![图 *强调*](/disclosures/1/attachments/2)",
    "&amp; &lt; &gt; &quot; &copy; &#x4E2D; &#20013; &bogus; & 孤立的与号",
    "&#13;回车实体 &#0; 空实体 &#1; 控制实体",
    "a < b > c \"引号\" 'single'",
    "<b>粗</b> <p>段</p> <!-- 注释 --> <br>",
    "混合\r\n换行\r旧式",
    "控制字符\x01\x0b\x0c\x7f\x85结束",
    "零宽\u200b空格\ufeff与不换行\u00a0空格",
    "代理\ud800对",
    "非字符\ufffe\uffff",
    "表情 \U0001f600 与组合字符 e\u0301",
    "ＰＤＦ　２０２６ 全角",
    "a" * 50 + "\n\n" + "长" * 3000,
    "\n\n".join(f"第{n}段。" for n in range(450)),
    "".join(f"| 职工{n} | {n} |\n" for n in range(300)).join(["| a | b |\n|---|---|\n", ""]),
    ">" * 25 + " 太深的引用",
    "*" * 200 + "星号",
    *XSS,
]


@pytest.mark.parametrize("source", TRICKY)
def test_the_text_is_the_reference_s(source):
    assert sanitize.markdown_to_text(source) == reference(source)


def test_plain_text_skips_the_parser_and_markup_does_not():
    plain = ["招标公告", "第一段。\n第二行。\n\n第二段。", "句中有　全角空格。", "2024年5月1日"]
    for source in plain:
        assert sanitize._is_plain(source), source
    not_plain = [
        "1. 项",
        "1) 项",
        "- 项",
        "+ 项",
        "# 标题",
        "> 引用",
        "标题\n===",
        "标题\n---",
        ": 冒号",
        "    代码",
        "　　缩进",
        "行尾　",
        "行尾  \n下一行",
        "a\tb",
        "a\u00a0b",
        "**粗**",
        "_斜_",
        "`码`",
        "~~删~~",
        "[链](x)",
        "<b>",
        "&amp;",
        "a | b",
        "a\\b",
        "a\r\nb",
        "a\x01b",
        "\ufeffa",
    ]
    for source in not_plain:
        assert not sanitize._is_plain(source), source
    # A text with markup goes through markdown-it, and its HTML is stripped without bleach.
    parsed = []
    original = sanitize._rendered_or_none
    cleaned = []
    cleaner = sanitize._text_cleaner.clean

    def rendered_or_none(source):
        parsed.append(source)
        return original(source)

    def clean(html):
        cleaned.append(html)
        return cleaner(html)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sanitize, "_rendered_or_none", rendered_or_none)
        patch.setattr(sanitize._text_cleaner, "clean", clean)
        assert sanitize.markdown_to_text("第一段。\n\n第二段。") == "第一段。\n\n第二段。"
        assert parsed == [] and cleaned == []
        assert sanitize.markdown_to_text("**粗体** [链接](https://x)") == "粗体 链接"
        assert parsed == ["**粗体** [链接](https://x)"] and cleaned == []
        # Characters the cleaner changes take the cleaner's way.
        assert sanitize.markdown_to_text("**控制**\x01") == "控制?"
        assert cleaned == ["<p><strong>控制</strong>\x01\n\n"]


# Pieces of Markdown, HTML, entities and awkward characters, put together at random.
FRAGMENTS = [
    "招标",
    "中标单位",
    "金额",
    "公示",
    "Tender",
    "word",
    " ",
    "  ",
    "\u3000",
    "\t",
    "\n",
    "\n\n",
    "\n\n\n",
    "*",
    "**",
    "_",
    "__",
    "~~",
    "`",
    "```",
    "~~~",
    "\\",
    "[",
    "]",
    "(",
    ")",
    "![",
    "<",
    ">",
    "&",
    "&amp;",
    "&lt;",
    "&copy;",
    "&#x1F600;",
    "&nbsp;",
    ";",
    "#",
    "## ",
    "- ",
    "+ ",
    "* ",
    "1. ",
    "2) ",
    "> ",
    "    ",
    "---",
    "===",
    ":",
    "|",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "<https://a.example/?q=1&r=2>",
    "[a <https://b.example>](https://d.example)",
    '![alt *em*](/disclosures/1/attachments/2 "t")',
    '"',
    "'",
    "1.5",
    "2024-05-01",
    "：",
    "。",
    "（一）",
    "<!-- c -->",
    "<b>b</b>",
    "\n```\n\ncode\n```\n",
    "- a\n  - b\n    ```\n\n    x\n    ```\n",
    "a  \nb",
    "a\\\nb",
    "<br>",
    "</p>",
]
AWKWARD = [
    "\x00",
    "\x01",
    "\x0b",
    "\x0c",
    "\r",
    "\r\n",
    "\x7f",
    "\x85",
    "\ud800",
    "\ufffe",
    "&#13;",
]
PLAINISH = [
    "招标",
    "金额",
    "Tender",
    " ",
    "\u3000",
    "\n",
    "\n\n",
    "\n\n\n",
    "1",
    "1.",
    "2)",
    "3.5",
    ".",
    ",",
    ";",
    ":",
    "!",
    "?",
    "(",
    ")",
    '"',
    "'",
    "-",
    "=",
    "#",
    "+",
    ">",
    "@",
    "%",
    "{",
    "/",
    "。",
    "，",
    "“",
    "—",
    "…",
    "①",
    "１．",
    "é",
    "\U0001f600",
    "\u0301",
    "\u00a0",
    "\t",
    "=====",
    "-----",
    "***",
]


@pytest.mark.parametrize(
    ("fragments", "seed"),
    [(FRAGMENTS, 1), (FRAGMENTS + AWKWARD, 2), (PLAINISH, 3)],
    ids=["markdown", "markdown-and-awkward-characters", "plain-looking"],
)
def test_random_texts_give_the_reference_s_text(fragments, seed):
    rng = random.Random(seed)
    plain = 0
    for _ in range(1500):
        source = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 40)))
        plain += sanitize._is_plain(source)
        assert sanitize.markdown_to_text(source) == reference(source), repr(source)
    if fragments is PLAINISH:
        assert plain > 200  # the plain way was taken, and compared


def test_the_benchmark_s_texts_give_the_reference_s_text():
    rng = random.Random(7)
    for number in range(300):
        item = synthetic_item(rng, number, date(2026, 1, 1))
        bodies = [item["body_md"]] + [r["body_md"] for r in item.get("revisions", [])]
        for body in bodies:
            assert sanitize._is_plain(body)
            assert sanitize.markdown_to_text(body) == reference(body)
