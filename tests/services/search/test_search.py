"""Search: one tokeniser for index and query, ranked and highlighted results, scope filtering."""

from __future__ import annotations

import io
import random

import pytest
from sqlalchemy import text

from app.models import Disclosure, Scope
from app.models import search as search_table
from app.services.blobs import FilesystemBlobStore
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import drafting, reviewing, visibility
from app.services.disclosures.visibility import ANONYMOUS
from app.services.search import query as search_query
from app.services.search.tokens import (
    Term,
    document_tokens,
    fts5_query,
    highlight,
    index_string,
    query_terms,
    snippet,
    tsquery,
)
from tests.helpers.disclosures import draft_fields, publish_item, staff

PARTY = visibility.Reader(name="member", party_member=True)

# --- the tokeniser --------------------------------------------------------------------------


def test_cjk_runs_become_bigrams_and_the_last_character():
    assert document_tokens("公开招标") == ["公开", "开招", "招标", "标"]
    assert document_tokens("党") == ["党"]


def test_latin_words_are_case_folded_and_split_from_cjk_and_digits_kept():
    assert document_tokens("Budget 2026年 Report, v2!") == ["budget", "2026", "年", "report", "v2"]


def test_full_width_letters_and_digits_are_normalised():
    assert document_tokens("ＰＤＦ　２０２６") == ["pdf", "2026"]
    assert query_terms("ＢＵＤＧＥＴ") == [Term("budget")]


def test_query_uses_bigrams_only_and_a_single_character_as_prefix():
    assert query_terms("招标公告") == [Term("招标"), Term("标公"), Term("公告")]
    assert query_terms("招") == [Term("招", prefix=True)]
    assert query_terms("budget budget 党费") == [Term("budget"), Term("党费")]
    assert query_terms("!!! ... —— 。，") == []


def test_backend_query_strings_quote_every_term():
    terms = [Term("招标"), Term("and"), Term("党", prefix=True)]
    assert fts5_query(terms) == '"招标" AND "and" AND "党"*'
    assert tsquery(terms) == "'招标' & 'and' & '党':*"


def test_every_character_of_a_document_starts_some_token():
    # This is what makes a one-character prefix query find any character of a text.
    text_ = "关于采购招标的公告"
    tokens = document_tokens(text_)
    assert {t[0] for t in tokens} == set(text_)


def test_the_index_string_is_the_tokens_of_each_text_joined():
    rng = random.Random(5)
    pieces = ["公开招标", "党", "Budget", "ＰＤＦ", "2026年", " ", "。", "x" * 45, "\U00020000"]
    for _ in range(300):
        texts = ["".join(rng.choices(pieces, k=rng.randint(0, 8))) for _ in range(3)]
        expected = " ".join(token for t in texts for token in document_tokens(t))
        assert index_string(*texts) == expected


def test_highlight_escapes_everything_and_marks_matches():
    html = str(highlight("<b>招标</b> & Budget", query_terms("招标 budget")))
    assert html == "&lt;b&gt;<mark>招标</mark>&lt;/b&gt; &amp; <mark>Budget</mark>"


def test_highlight_marks_whole_words_only_and_merges_overlapping_bigrams():
    assert str(highlight("budgets budget", query_terms("budget"))) == (
        "budgets <mark>budget</mark>"
    )
    assert str(highlight("公开招标公告", query_terms("招标公告"))) == "公开<mark>招标公告</mark>"


def test_snippet_is_cut_around_the_first_match():
    body = "前言。" * 100 + "这里说到党费的使用。" + "结尾。" * 100
    html = str(snippet(body, query_terms("党费"), width=40))
    assert html.startswith("…") and html.endswith("…")
    assert "<mark>党费</mark>" in html


def test_snippet_reads_only_the_start_of_a_long_text(monkeypatch):
    from app.services.search import tokens as search_tokens

    seen = []
    original = search_tokens.match_spans
    monkeypatch.setattr(
        search_tokens,
        "match_spans",
        lambda text, terms: seen.append(len(text)) or original(text, terms),
    )
    early = "招标公告：" + "正文。" * 40_000
    assert "<mark>招标</mark>" in str(snippet(early, query_terms("招标")))
    late = "正文。" * 40_000 + "招标公告"
    html = str(snippet(late, query_terms("招标")))
    assert "<mark>" not in html and html.startswith("正文。") and html.endswith("…")
    assert max(seen) <= search_tokens.SNIPPET_SCAN_CHARS


def _snippet_in_one_look(text, terms, width=160):
    """The snippet as one scan of the first SNIPPET_SCAN_CHARS characters makes it."""
    from markupsafe import escape

    from app.services.search import tokens as search_tokens

    cut = len(text) > search_tokens.SNIPPET_SCAN_CHARS
    text = " ".join(text[: search_tokens.SNIPPET_SCAN_CHARS].split())
    spans = search_tokens.match_spans(text, terms)
    if not spans:
        return escape(text[:width]) + ("…" if len(text) > width or cut else "")
    start = max(0, spans[0][0] - width // 3)
    end = min(len(text), start + width)
    window = [
        (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
    ]
    body = highlight(text[start:end], terms, window)
    return ("…" if start else "") + body + ("…" if end < len(text) or cut else "")


def test_a_snippet_found_in_the_first_look_is_the_one_the_whole_scan_finds():
    import random

    from app.services.search import tokens as search_tokens

    # Words that straddle where the first look stops, whitespace runs, full-width letters,
    # long words and matches near both ends of it.
    pieces = [
        "招标",
        "公告",
        "党费",
        " ",
        "\n\t  ",
        "budget",
        "budgets",
        "Ｂｕｄｇｅｔ",
        "预算",
        "x" * 45,
        "budget" + "s" * 40,
        "。",
        "，",
        "ﬁ",
        "采购",
        "a",
        "b1",
    ]
    rng = random.Random(20261207)
    queries = [
        query_terms(q) for q in ("招标", "budget", "预算 budget", "党", "b1", "budget" + "s" * 40)
    ]
    edge = search_tokens.SNIPPET_FIRST_CHARS
    for _ in range(500):
        length = rng.choice([edge - 200, edge - 60, edge, edge + 40, edge + 300, 12_000])
        parts, size = [], 0
        while size < length:
            parts.append(rng.choice(pieces) if rng.random() < 0.2 else rng.choice("正文说明的 "))
            size += len(parts[-1])
        text_ = "".join(parts)
        for terms in queries:
            assert str(snippet(text_, terms)) == str(_snippet_in_one_look(text_, terms)), (
                text_,
                terms,
            )


# --- the parser: a query without words never reaches the database --------------------------

EMPTY = "Type one or more words to search for."
PUNCTUATION_ONLY = "Search for words or numbers; punctuation alone finds nothing."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", EMPTY),
        ("   ", EMPTY),
        ("\u3000\t\n", EMPTY),  # a full-width space is a space
        ("招" * 201, "The search is too long. Use at most 200 characters."),
        ("x" * 150 + " " + "y" * 50, "The search is too long. Use at most 200 characters."),
        ("！？。，… --- ***", PUNCTUATION_ONLY),
        ("《》【】、；：“”", PUNCTUATION_ONLY),
        # The syntax of FTS5 and of tsquery without a word in it: nothing to search for.
        ('"', PUNCTUATION_ONLY),
        ("'", PUNCTUATION_ONLY),
        ("*", PUNCTUATION_ONLY),
        ("\\", PUNCTUATION_ONLY),
        ("':*|!&", PUNCTUATION_ONLY),
        ("<-> () ^", PUNCTUATION_ONLY),
    ],
)
def test_a_query_without_words_is_refused_with_what_to_do(query, message):
    with pytest.raises(search_query.SearchError) as refused:
        search_query.parse_query(query)
    assert str(refused.value.message) == message
    # The search refuses it before asking anything of the database: here there is none.
    with pytest.raises(search_query.SearchError):
        search_query.search(None, ANONYMOUS, query)


def test_a_query_of_the_longest_length_is_searched():
    # At most 200 characters, not counting the spaces around them.
    assert search_query.parse_query("  " + "招标" * 100 + "\u3000") == [Term("招标"), Term("标招")]
    assert search_query.parse_query("a" * 199 + "招") == [Term("a" * 40), Term("招", prefix=True)]


# --- the service, on both backends ------------------------------------------------------


@pytest.fixture
def items(db, demo):
    """A few items with distinctive words; returns their ids by name."""
    made = {
        "bidding": publish_item(
            db,
            title="锅炉房改造工程招标结果公示",
            body="经公开招标，某公司中标。Contract value: 88 million.",
        ),
        "english": publish_item(
            db, title="Quarterly budget review", body="The zebrafish budget line was approved."
        ),
        "body_only": publish_item(
            db, title="会议纪要", body="会上讨论了zebrafish预算，以及锅炉房的问题。"
        ),
        "party": publish_item(
            db,
            title="秘密党费支部明细",
            body="zebrafish 党费 secretword",
            scope=Scope.party,
        ),
    }
    return made


def _ids(page: search_query.SearchPage) -> list[int]:
    return [hit.disclosure.id for hit in page.hits]


def test_two_character_chinese_word_and_english_word_match(db, items):
    with db() as session:
        found = _ids(search_query.search(session, ANONYMOUS, "锅炉"))
        assert items["bidding"] in found and items["body_only"] in found
        assert _ids(search_query.search(session, ANONYMOUS, "ZEBRAFISH budget")) == [
            items["english"]
        ]
        assert items["bidding"] in _ids(search_query.search(session, ANONYMOUS, "88"))


def test_single_character_matches_anywhere_in_a_run(db, items):
    with db() as session:
        assert items["bidding"] in _ids(search_query.search(session, ANONYMOUS, "锅"))
        # 示 ends the title run 公示: found through the run's last-character token.
        assert items["bidding"] in _ids(search_query.search(session, ANONYMOUS, "示"))


def test_every_term_must_match(db, items):
    with db() as session:
        assert _ids(search_query.search(session, ANONYMOUS, "锅炉 zebrafish")) == [
            items["body_only"]
        ]
        assert search_query.search(session, ANONYMOUS, "锅炉 nonexistentword").total == 0


def test_title_matches_rank_before_body_matches(db, items):
    with db() as session:
        found = _ids(search_query.search(session, ANONYMOUS, "锅炉房"))
        assert found.index(items["bidding"]) < found.index(items["body_only"])


def test_restricted_items_are_neither_listed_nor_counted(db, items):
    with db() as session:
        for query in ("secretword", "秘密", "zebrafish"):
            page = search_query.search(session, ANONYMOUS, query)
            assert items["party"] not in _ids(page)
        assert search_query.search(session, ANONYMOUS, "secretword").total == 0
        assert search_query.search(session, ANONYMOUS, "zebrafish").total == 2
        member = search_query.search(session, PARTY, "secretword")
        assert _ids(member) == [items["party"]] and member.total == 1


def test_restricted_title_never_reaches_an_anonymous_reader(public_app, items):
    client = public_app.test_client()
    for query in ("secretword", "秘密党费", "zebrafish", "党费"):
        response = client.get("/search", query_string={"q": query})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "秘密党费支部明细" not in page
    page = client.get("/search?q=secretword&lang=en").get_data(as_text=True)
    assert "0 results" in page and "Nothing found" in page


def test_amendment_replaces_the_indexed_text(db, items):
    with db() as session:
        disclosure = session.get(Disclosure, items["english"])
        author = staff(session, "publisher")
        drafting.start_amendment(session, disclosure, author)
        fields = draft_fields(session, title="Quarterly budget review", body="Now about walrus.")
        drafting.update_draft(session, disclosure, author, fields, reason="Corrected")
        drafting.submit_for_review(session, disclosure, author)
        reviewing.approve(session, disclosure, staff(session, "approver"))
    with db() as session:
        assert _ids(search_query.search(session, ANONYMOUS, "walrus")) == [items["english"]]
        assert items["english"] not in _ids(search_query.search(session, ANONYMOUS, "zebrafish"))


def test_retracted_item_is_found_by_title_and_reason_only(db, items):
    with db() as session:
        disclosure = session.get(Disclosure, items["bidding"])
        drafting.request_retraction(
            session, disclosure, staff(session, "publisher"), "发现鸵鸟问题，结果作废"
        )
        reviewing.approve(session, disclosure, staff(session, "approver"))
    with db() as session:
        assert items["bidding"] not in _ids(search_query.search(session, ANONYMOUS, "million"))
        page = search_query.search(session, ANONYMOUS, "鸵鸟")
        assert _ids(page) == [items["bidding"]]
        assert "<mark>鸵鸟</mark>" in str(page.hits[0].snippet)
        assert items["bidding"] in _ids(search_query.search(session, ANONYMOUS, "锅炉房改造"))


def test_attachment_names_are_searchable(db, demo, instance):
    blobs = FilesystemBlobStore(instance.path / "blobs")
    with db() as session:
        author = staff(session, "publisher")
        disclosure = drafting.create_draft(session, author, draft_fields(session, title="附件测试"))
        attachment_service.add_attachment(
            session, blobs, disclosure, author, "Hippopotamus 报价单.pdf",
            io.BytesIO(b"%PDF-1.4 test"), 1 << 20,
        )  # fmt: skip
        drafting.submit_for_review(session, disclosure, author)
        reviewing.approve(session, disclosure, staff(session, "approver"))
        disclosure_id = disclosure.id
    with db() as session:
        page = search_query.search(session, ANONYMOUS, "hippopotamus")
        assert _ids(page) == [disclosure_id]
        assert [str(a) for a in page.hits[0].attachments] == [
            "<mark>Hippopotamus</mark> 报价单.pdf"
        ]


def test_results_are_paginated(db, demo):
    for number in range(5):
        publish_item(db, title=f"分页测试 Pelican {number}")
    with db() as session:
        first = search_query.search(session, ANONYMOUS, "pelican", page=1, per_page=2)
        third = search_query.search(session, ANONYMOUS, "pelican", page=3, per_page=2)
        assert first.total == 5 and first.pages == 3 and len(first.hits) == 2
        assert len(third.hits) == 1
        assert not set(_ids(first)) & set(_ids(third))
        beyond = search_query.search(session, ANONYMOUS, "pelican", page=99, per_page=2)
        assert beyond.page == 3
        far = search_query.search(session, ANONYMOUS, "pelican", page=10**30, per_page=2)
        assert far.page == 3 and _ids(far) == _ids(third)


def test_beyond_the_cap_the_newest_matches_are_ranked_and_the_page_says_there_are_more(db, demo):
    older_title_match = publish_item(db, title="Pelican report", body="About birds.")
    body_matches = [publish_item(db, title=f"鸟类 {n}", body="A pelican.") for n in range(3)]
    fourth_newest = publish_item(db, title="Pelican count", body="About birds.")
    body_matches += [publish_item(db, title=f"鸟类 {n}", body="A pelican.") for n in range(2)]
    title_match = publish_item(db, title="Pelican census", body="About birds.")
    publish_item(db, title="Pelican secret", body="Members only.", scope=Scope.party)
    with db() as session:
        first = search_query.search(session, ANONYMOUS, "pelican", per_page=2, count_cap=3)
        second = search_query.search(session, ANONYMOUS, "pelican", page=2, per_page=2, count_cap=3)
        # The three newest visible items, best first: the restricted newest item takes no
        # place, and the fourth newest is not shown however well it matches.
        assert (first.total, first.more, first.pages) == (3, True, 2)
        assert _ids(first) + _ids(second) == [title_match, *reversed(body_matches[-2:])]
        everything = search_query.search(session, ANONYMOUS, "pelican", count_cap=10)
        assert (everything.total, everything.more) == (8, False)
        assert _ids(everything)[:3] == [title_match, fourth_newest, older_title_match]


def test_any_page_number_in_the_url_gets_a_page(public_app, db, demo):
    publish_item(db, title="Heron nesting")
    client = public_app.test_client()
    for number in ("0", "-3", "2", "9" * 40, "x"):
        response = client.get("/search", query_string={"q": "heron", "page": number})
        assert response.status_code == 200
        assert "<mark>Heron</mark> nesting" in response.get_data(as_text=True)


@pytest.mark.parametrize("empty_instance", ["postgresql"], indirect=True)
def test_search_leaves_the_settings_of_the_transaction_as_they_were(db, items):
    with db() as session:
        assert session.get_bind().dialect.name == "postgresql"
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 3"))
        assert search_query.search(session, ANONYMOUS, "zebrafish").total == 2
        setting = text("SELECT current_setting('max_parallel_workers_per_gather')")
        assert session.scalar(setting) == "3"


@pytest.mark.parametrize("empty_instance", ["postgresql"], indirect=True)
def test_newest_matches_are_found_across_buckets_of_ids(db, demo):
    def publish_from(first_id: int, **fields) -> int:
        with db() as session:
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('disclosures', 'id'), :n, false)"),
                {"n": first_id},
            )
        return publish_item(db, **fields)

    bucket = search_table.BUCKET_IDS
    oldest = publish_item(db, title="Osprey sighting", body="By the lake.")
    early = publish_from(3 * bucket + 5, title="Osprey nest", body="On the mast.")
    publish_from(3 * bucket + 9, title="Osprey secret", body="Members.", scope=Scope.party)
    middle = publish_from(195 * bucket + 7, title="Osprey count", body="Three birds.")
    recent = publish_from(200 * bucket + 1, title="Osprey ringing", body="Two chicks.")
    newest = publish_from(201 * bucket, title="Osprey photo", body="At dawn.")
    with db() as session:
        # The first round finds the two newest buckets' matches, the second the middle one;
        # the oldest are found by the last round, which asks for all the buckets left.
        for cap, expected, more in (
            (2, {newest, recent}, True),
            (3, {newest, recent, middle}, True),
            (4, {newest, recent, middle, early}, True),
            (10, {newest, recent, middle, early, oldest}, False),
        ):
            page = search_query.search(session, ANONYMOUS, "osprey", count_cap=cap)
            assert (set(_ids(page)), page.total, page.more) == (expected, len(expected), more)
        party = search_query.search(session, PARTY, "osprey", count_cap=10)
        assert party.total == 6 and not party.more


@pytest.mark.parametrize("empty_instance", ["postgresql"], indirect=True)
def test_a_common_words_first_round_is_sized_by_the_planner_statistics(db, demo, monkeypatch):
    bucket = search_table.BUCKET_IDS
    made = []
    for n in range(6):
        with db() as session:
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('disclosures', 'id'), :n, false)"),
                {"n": (4 * n + 1) * bucket + 3},
            )
        made.append(publish_item(db, title=f"鹈鹕 观察 {n}", body="湖边。"))
    with db() as session:
        session.execute(text("ANALYZE disclosure_search"))
    search_query._frequencies.clear()
    with db() as session:
        shares = search_query._lexeme_frequencies(session)
        # The statistics list the word with its share of the index rows.
        assert 0 < shares["鹈鹕"] <= 1 and "观察" in shares

    statements = []

    def count(conn, cursor, statement, *args):
        if "FROM disclosure_search" in statement and "ts_rank" in statement:
            statements.append(statement)

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", count)
    try:
        results = {}
        for share in (None, 1 / (4 * bucket)):
            # As rare as one match in four buckets: the first round asks for enough buckets
            # to hold the five newest matches, and finds them in one statement.
            search_query._frequencies.clear()
            if share is not None:
                monkeypatch.setattr(
                    search_query, "_lexeme_frequencies", lambda s, share=share: {"鹈鹕": share}
                )
            statements.clear()
            with db() as session:
                page = search_query.search(session, ANONYMOUS, "鹈鹕", count_cap=4)
            results[share] = (_ids(page), page.total, page.more, len(statements))
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    unsized, sized = results[None], results[1 / (4 * bucket)]
    assert sorted(sized[0]) == sorted(made[-4:]) and sized[1:3] == (4, True)
    assert sized[:3] == unsized[:3]
    assert unsized[3] > 1 and sized[3] == 1


def test_backend_query_syntax_is_searched_as_plain_words(db, items):
    # Each title holds a query as typed. The queries' words are spread over the other items
    # too (招标 and 预算 are in the demo and the fixture), never all of one query's words.
    made = {
        name: publish_item(db, title=title)
        for name, title in {
            "and": "职代会 AND 决议",
            "or_not": "是否 OR NOT 通过",
            "or": "选项 OR 其他",
            "near": "NEAR(a b) 距离说明",
            "colon": "字段 a:b 过滤说明",
            "quoted": '"招标" OR * 通配说明',
            "tsquery": "预算:* & !党费 | <-> 说明",
        }.items()
    }
    # FTS5 (SQLite) and tsquery (PostgreSQL) syntax: the words in it are searched for.
    expected = {
        "AND": (["and"], {made["and"]}),
        "OR NOT": (["or", "not"], {made["or_not"]}),
        "NEAR(a b)": (["near", "a", "b"], {made["near"]}),
        "a:b": (["a", "b"], {made["near"], made["colon"]}),
        '"招标" OR *': (["招标", "or"], {made["quoted"]}),
        "预算:* & !党费 | <->": (["预算", "党费"], {made["tsquery"]}),
    }
    with db() as session:
        for query, (words, found) in expected.items():
            page = search_query.search(session, ANONYMOUS, query)
            assert page.terms == [Term(word) for word in words], query
            assert set(_ids(page)) == found, query
            assert page.total == len(found), query
        page = search_query.search(session, ANONYMOUS, "AND")
        assert str(page.hits[0].title) == "职代会 <mark>AND</mark> 决议"


def test_a_refused_query_is_explained_in_the_readers_language(public_app):
    client = public_app.test_client()
    page = client.get("/search", query_string={"q": "《》！？"}).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert (
        '<p class="alert alert-error" role="alert">'
        "请输入文字或数字进行搜索；只输入标点符号搜索不到任何内容。</p>"
    ) in page
    assert 'value="《》！？"' in page, "the query stays in the box, to be corrected"
    too_long = client.get("/search", query_string={"q": "招" * 201}).get_data(as_text=True)
    assert "搜索内容过长，最多 200 个字符。" in too_long


def test_search_page_escapes_and_highlights(public_app, db, demo):
    publish_item(db, title="<script>alert(1)</script> 招标 Walrus")
    client = public_app.test_client()
    page = client.get("/search?q=walrus").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 招标 <mark>Walrus</mark>" in page


def test_home_and_index_have_the_search_box(public_app, demo):
    client = public_app.test_client()
    for path in ("/", "/disclosures/"):
        assert 'action="/search"' in client.get(path).get_data(as_text=True)


def test_reindex_rebuilds_the_same_results(db, items, console_app):
    with db() as session:
        before = _ids(search_query.search(session, ANONYMOUS, "锅炉"))
        session.execute(text("DELETE FROM disclosure_search"))
    with db() as session:
        assert search_query.search(session, ANONYMOUS, "锅炉").total == 0
    result = console_app.test_cli_runner().invoke(args=["disclosures", "reindex"])
    assert result.exit_code == 0, result.output
    with db() as session:
        assert _ids(search_query.search(session, ANONYMOUS, "锅炉")) == before
