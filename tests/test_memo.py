"""Remembered renderings: Markdown and diffs are paid for once per text, within bounds."""

from __future__ import annotations

from app.memo import TextMemo
from app.security import sanitize


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
