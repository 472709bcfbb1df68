"""The one cleaning of typed names: what a reader cannot tell apart becomes one name."""

from __future__ import annotations

import pytest

from app.services.names import clean_name


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("  王芳  ", "王芳"),
        ("张三\u200b", "张三"),  # zero-width space
        ("张\u200c三\u2060", "张三"),  # zero-width non-joiner, word joiner
        ("\ufeff李四", "李四"),  # byte order mark
        ("李四\u202e", "李四"),  # an unclosed right-to-left override
        ("\u2067机械\u2069公司", "机械公司"),  # bidi isolates
        ("Ａｎｎａ　Ｌｉ", "Anna Li"),  # full-width letters and the ideographic space
        ("Li  Na", "Li Na"),
        ("Li\u3000Na", "Li Na"),
        ("Li\tNa\n", "Li Na"),
        ("第二\x00炼钢厂\x7f", "第二炼钢厂"),  # control characters
        ("e\u200b\u0301", "\u00e9"),  # a mark split from its letter is composed with it
        ("\u200b\u200c\u2060", ""),
        ("\u3000 \t", ""),
        (None, ""),
        (42, ""),
    ],
)
def test_a_name_is_cleaned_to_what_a_reader_sees(typed, cleaned):
    assert clean_name(typed) == cleaned


def test_cleaning_twice_changes_nothing_more():
    for typed in ("Ａ\u200b李\u3000\u3000四\u202e", "e\u200b\u0301", "㍻\u2028年"):
        once = clean_name(typed)
        assert clean_name(once) == once
