"""Whole public pages cached per process: keyed by scope and language, renewed on change."""

import threading
from datetime import date

import pytest
from flask import template_rendered

from app import models
from app.models import (
    DisclosureCategory,
    DisclosureQuestion,
    Period,
    PublicVersion,
    Scope,
    Unit,
)
from app.public.page_cache import PageCache
from app.services import public_version, units
from app.services.disclosures import catalogue, categories, drafting, questions, reviewing
from tests.helpers.disclosures import draft_fields, publish_item, staff

PROXY = {"REMOTE_ADDR": "127.0.0.1"}
PARTY = {"X-Remote-User": "li.na", "X-Remote-Unit": "CHM", "X-Remote-Party": "1"}
WORKER = {"X-Remote-User": "wang.wei", "X-Remote-Unit": "MCH-W1"}
OTHER_WORKER = {"X-Remote-User": "zhao.lei", "X-Remote-Unit": "MCH-W1"}


def _cache(app) -> PageCache:
    return app.extensions["portal.page_cache"]


def _version(db) -> int:
    with db() as session:
        return public_version.current(session)


@pytest.fixture
def reader_app(instance):
    return instance.app("public", READER_HEADER="X-Remote-User", TRUSTED_PROXIES="127.0.0.1/32")


def test_a_page_is_rendered_once_and_served_with_every_header(db, demo, public_app):
    d_id = publish_item(db, title="缓存测试事项")
    client = public_app.test_client()
    first = client.get(f"/disclosures/{d_id}")
    assert len(_cache(public_app)) == 1
    again = client.get(f"/disclosures/{d_id}")
    assert again.get_data() == first.get_data()
    assert len(_cache(public_app)) == 1
    for name in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Permissions-Policy",
        "X-Frame-Options",
        "Cross-Origin-Opener-Policy",
    ):
        assert again.headers[name] == first.headers[name], name
    assert again.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Set-Cookie" not in again.headers
    # Unknown query arguments do not make new entries; the ones the page reads do.
    client.get(f"/disclosures/{d_id}?utm=1")
    assert len(_cache(public_app)) == 1
    client.get(f"/disclosures/{d_id}?asked=1")
    assert len(_cache(public_app)) == 2


def test_a_hit_is_answered_without_flask_and_sends_what_the_miss_sent(db, demo, public_app):
    d_id = publish_item(db, title="免渲染事项")
    rendered = []

    def note(_sender, template, **_extra):
        rendered.append(template.name)

    client = public_app.test_client()
    with template_rendered.connected_to(note, public_app):
        first = client.get(f"/disclosures/{d_id}")
        assert rendered == ["disclosures/detail.html"]
        again = client.get(f"/disclosures/{d_id}")
        assert rendered == ["disclosures/detail.html"], "a hit renders nothing"
    assert again.status == first.status == "200 OK"
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    assert "Cookie" in again.headers["Vary"]
    assert again.get_data() == first.get_data()


def test_head_of_a_cached_page_is_answered_from_the_cache(db, demo, public_app):
    d_id = publish_item(db, title="HEAD 请求事项")
    path = f"/disclosures/{d_id}/history"
    rendered = []

    def note(_sender, template, **_extra):
        rendered.append(template.name)

    client = public_app.test_client()
    with template_rendered.connected_to(note, public_app):
        miss = client.head(path)
        assert miss.status_code == 200 and miss.get_data() == b""
        assert len(_cache(public_app)) == 0, "a HEAD has no body to keep"
        page = client.get(path)
        rendered.clear()
        for _ in range(3):
            head = client.head(path)
            assert head.status_code == 200 and head.get_data() == b""
            assert head.headers["Content-Length"] == str(len(page.get_data()))
        assert rendered == [], "a HEAD of a cached page renders nothing"


def test_pages_are_kept_apart_by_language_as_flask_chooses_it(db, demo, public_app):
    d_id = publish_item(db, title="多语言事项")
    path = f"/disclosures/{d_id}"
    english = {"Accept-Language": "en-GB,en;q=0.8"}
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9"}
    rendered = []

    def note(_sender, template, **_extra):
        rendered.append(template.name)

    with template_rendered.connected_to(note, public_app):
        for _ in range(2):  # the second round is answered from the cache
            assert '<html lang="en">' in public_app.test_client().get(path, headers=english).text
            assert (
                '<html lang="zh-Hans">' in public_app.test_client().get(path, headers=chinese).text
            )
            assert '<html lang="zh-Hans">' in public_app.test_client().get(path).text
        assert len(rendered) == 2, "one page per language, each rendered once"
        switched = public_app.test_client()
        switched.get(path + "?lang=en")
        cookie = switched.get_cookie("portal_public").value
        for _ in range(2):
            assert '<html lang="en">' in switched.get(path, headers=chinese).text
        assert len(rendered) == 3, "the remembered language is served from the cache"
    # A session cookie that is not ours (altered, or signed with another key) counts for
    # nothing, on a hit as on a miss: the page is in the browser's language.
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    for _ in range(2):
        stranger = public_app.test_client()
        stranger.set_cookie("portal_public", forged)
        assert '<html lang="zh-Hans">' in stranger.get(path, headers=chinese).text


def test_language_switch_still_sets_the_cookie_on_a_cached_page(db, demo, public_app):
    d_id = publish_item(db, title="语言测试事项")
    client = public_app.test_client()
    client.get(f"/disclosures/{d_id}?lang=en")
    other = public_app.test_client()
    switched = other.get(f"/disclosures/{d_id}?lang=en")  # a hit
    assert '<html lang="en">' in switched.get_data(as_text=True)
    assert "portal_public" in switched.headers.get("Set-Cookie", "")
    remembered = other.get(f"/disclosures/{d_id}")
    assert '<html lang="en">' in remembered.get_data(as_text=True)
    assert '<html lang="zh-Hans">' in public_app.test_client().get(f"/disclosures/{d_id}").get_data(
        as_text=True
    )


def test_readers_never_get_a_cached_page_of_another_scope(db, demo, reader_app):
    with db() as session:
        fields = draft_fields(session, title="党员内部事项", scope=Scope.party)
        party_item = drafting.create_draft(session, staff(session, "publisher"), fields)
        drafting.submit_for_review(session, party_item, staff(session, "publisher"))
        reviewing.approve(session, party_item, staff(session, "approver"))
        unit_fields = draft_fields(
            session,
            title="一车间内部事项",
            scope=Scope.unit,
            unit=units.by_code(session, "MCH-W1"),
        )
        unit_item = drafting.create_draft(session, staff(session, "publisher"), unit_fields)
        drafting.submit_for_review(session, unit_item, staff(session, "publisher"))
        reviewing.approve(session, unit_item, staff(session, "approver"))
        party_id, unit_id = party_item.id, unit_item.id
    client = reader_app.test_client()

    def get(path, headers=None):
        return client.get(path, headers=headers or {}, environ_base=PROXY)

    # Each page is first rendered for the reader who may see the item...
    assert get(f"/disclosures/{party_id}", PARTY).status_code == 200
    assert get(f"/disclosures/{unit_id}", WORKER).status_code == 200
    assert "党员内部事项" in get("/disclosures/", PARTY).get_data(as_text=True)
    assert "一车间内部事项" in get("/", WORKER).get_data(as_text=True)
    # ...and then asked for by readers outside the scope.
    for headers in (None, WORKER, {"X-Remote-User": "x", "X-Remote-Unit": "CHM"}):
        assert get(f"/disclosures/{party_id}", headers).status_code == 404
        assert get(f"/disclosures/{party_id}/history", headers).status_code == 404
        assert "党员内部事项" not in get("/disclosures/", headers).get_data(as_text=True)
    for headers in (None, PARTY):
        assert get(f"/disclosures/{unit_id}", headers).status_code == 404
        assert "一车间内部事项" not in get("/", headers).get_data(as_text=True)
    # Readers of the same scope share a page; it carries no name and no shared-cache licence.
    shared = get(f"/disclosures/{unit_id}", OTHER_WORKER)
    assert shared.status_code == 200 and "wang.wei" not in shared.get_data(as_text=True)
    assert "X-Remote-User" in shared.headers["Vary"]
    assert shared.headers["Cache-Control"] == "private, no-cache"


def test_every_public_change_renews_the_pages(db, demo, public_app, console_app):
    client = public_app.test_client()
    d_id = publish_item(db, title="变更前标题")
    assert "变更前标题" in client.get("/disclosures/?lang=en").get_data(as_text=True)

    # A new publication.
    publish_item(db, title="新发布事项")
    assert "新发布事项" in client.get("/disclosures/").get_data(as_text=True)

    # An amendment.
    with db() as session:
        disclosure = session.get(models.Disclosure, d_id)
        drafting.start_amendment(session, disclosure, staff(session, "publisher"), "更正标题")
        disclosure.title = "变更后标题"
        drafting.submit_for_review(session, disclosure, staff(session, "publisher"))
        reviewing.approve(session, disclosure, staff(session, "approver"))
    assert "变更后标题" in client.get(f"/disclosures/{d_id}").get_data(as_text=True)

    # An answered question.
    with db() as session:
        question = questions.ask_question(
            session, session.get(models.Disclosure, d_id), "缓存里的问题？", date.today()
        )
        question_id = question.id
    assert "缓存里的问题" not in client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    with db() as session:
        questions.answer_question(
            session,
            session.get(DisclosureQuestion, question_id),
            staff(session, "publisher"),
            "缓存里的回答。",
            date.today(),
        )
    assert "缓存里的回答。" in client.get(f"/disclosures/{d_id}").get_data(as_text=True)

    # A category renamed by an admin, a unit renamed.
    with db() as session:
        category = categories.category_by_code(session, "procurement")
        category.name_en = "Procurement (renamed)"
        units.by_code(session, "MCH").name_en = "Machinery (renamed)"
    page = client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    assert "Procurement (renamed)" in page and "Machinery (renamed)" in page

    # A catalogue entry added.
    client.get("/disclosures/catalogue/MCH")
    with db() as session:
        catalogue.add_catalogue_entry(
            session,
            categories.category_by_code(session, "budget-accounts"),
            units.by_code(session, "MCH"),
            Period.yearly,
            30,
            date(2020, 1, 1),
        )
    assert "Budgets and final accounts" in client.get("/disclosures/catalogue/MCH").get_data(
        as_text=True
    )


def test_what_bumps_the_public_version(db, demo):
    before = _version(db)
    with db() as session:
        draft = drafting.create_draft(session, staff(session, "publisher"), draft_fields(session))
        draft.body = "还在起草。"
        draft_id = draft.id
    assert _version(db) == before, "a draft nobody can read changes no public page"
    with db() as session:
        draft = session.get(models.Disclosure, draft_id)
        drafting.submit_for_review(session, draft, staff(session, "publisher"))
        reviewing.approve(session, draft, staff(session, "approver"))
        questions.ask_question(session, draft, "一个待回答的问题", date.today())
    after_publication = _version(db)
    assert after_publication == before + 1, "one transaction, one bump"
    with db() as session:
        questions.ask_question(
            session, session.get(models.Disclosure, draft_id), "另一个问题", date.today()
        )
    assert _version(db) == after_publication, "questions waiting for an answer are not shown"
    for change in (
        lambda s: setattr(s.get(DisclosureCategory, 1), "name_en", "Renamed"),
        lambda s: setattr(s.get(Unit, 1), "name_en", "Renamed group"),
    ):
        version = _version(db)
        with db() as session:
            change(session)
        assert _version(db) == version + 1
    # A rolled-back change leaves the version as it was.
    version = _version(db)
    session_factory = db.app.extensions["portal.db"].sessions
    with session_factory() as session:
        session.get(Unit, 1).name_en = "Not kept"
        session.flush()
        assert public_version.current(session) == version + 1
        session.rollback()
    assert _version(db) == version


def test_version_row_is_recreated_when_missing(db, demo):
    with db() as session:
        session.query(PublicVersion).delete()
    assert _version(db) == 0
    with db() as session:
        session.get(Unit, 1).name_en = "Renamed group"
    assert _version(db) == 1


def test_cache_is_bounded_by_entries_and_bytes():
    cache = PageCache(max_entries=3, max_bytes=100)
    for n in range(5):
        cache.put(n, "v1", b"x" * 10, [])
    assert len(cache) == 3 and cache.get(0, "v1") is None and cache.get(4, "v1")
    cache.get(2, "v1")  # recently used: kept
    cache.put("big", "v1", b"x" * 90, [])
    # 120 bytes: the least recently used pages go until the rest fit, and no more.
    assert cache.get(3, "v1") is None and cache.get(4, "v1") is None
    assert cache.get(2, "v1") == (b"x" * 10, [])
    assert cache.get("big", "v1") == (b"x" * 90, [])
    assert (len(cache), cache.size) == (2, 100)
    cache.put("huge", "v1", b"x" * 101, [])
    assert cache.get("huge", "v1") is None
    assert cache.get("big", "v2") is None, "another version is a miss"
    cache.put("big", "v2", b"y" * 5, [])
    assert cache.get("big", "v2") == (b"y" * 5, []) and cache.size <= 100


def test_one_thread_renders_a_missing_page_while_the_others_wait():
    cache = PageCache(max_entries=10, max_bytes=1000)
    assert cache.claim("k") is None
    waiting = cache.claim("k")
    assert waiting is not None and not waiting.is_set()
    cache.put("k", "v1", b"page", [])
    cache.release("k")
    assert waiting.is_set() and cache.get("k", "v1") == (b"page", [])
    assert cache.claim("k") is None, "the next miss renders again"
    cache.release("k")


def test_cached_pages_still_count_against_the_default_rate_limit(
    one_clock_minute, db, demo, instance
):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per minute")
    d_id = publish_item(db)
    client = app.test_client()
    statuses = [client.get(f"/disclosures/{d_id}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.head(f"/disclosures/{d_id}").status_code == 429
    other = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.get(f"/disclosures/{d_id}", environ_base=other).status_code == 200


def test_the_version_is_read_on_a_few_connections_however_many_threads_read(db, demo, instance):
    engine = instance.app("public").extensions["portal.db"].engine
    latest = public_version.LatestVersion(engine)
    opened = []
    connect = latest._connect
    latest._connect = lambda: opened.append(1) or connect()
    expected = _version(db)
    start = threading.Barrier(16)
    seen: list[int] = []

    def read() -> None:
        start.wait()
        seen.extend(latest() for _ in range(25))

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == [expected] * 400
    # Opening a PostgreSQL connection costs far more than waiting for a read to finish.
    assert 1 <= len(opened) <= public_version.LatestVersion.CONNECTIONS
    publish_item(db, title="版本号读取测试")
    assert latest() == _version(db) > expected

    # Connections that fail are closed and no longer counted: later reads open new ones.
    for connection in latest._idle:
        connection.close()
    failed = 0
    for _ in range(len(latest._idle)):
        try:
            latest()
        except Exception:
            failed += 1
    assert failed >= 1
    later: list[int] = []
    reader = threading.Thread(target=lambda: later.append(latest()))
    reader.start()
    reader.join(10)
    assert later == [_version(db)], "a read waited for a connection that was never given back"
