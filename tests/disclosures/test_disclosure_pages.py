"""Public reading: index with filters and pages, item, history with diffs, print, feed, home."""

import pytest
from sqlalchemy import text

from app.models import Disclosure, Period, Scope
from app.services import units
from app.services.disclosures import (
    catalogue,
    categories,
    drafting,
    listings,
    publishing,
    reviewing,
    visibility,
)
from app.services.disclosures.visibility import ANONYMOUS
from tests.helpers.disclosures import draft_fields, publish_item, staff


def test_index_lists_newest_first_and_filters(demo, public_app):
    client = public_app.test_client()
    page = client.get("/disclosures/?lang=en").get_data(as_text=True)
    assert "Notice on the 2026 canteen meal subsidy" in page
    assert page.index("Notice on the 2026 canteen meal subsidy") < page.index("关于新建年产5000吨")
    filtered = client.get("/disclosures/?category=procurement").get_data(as_text=True)
    assert "除尘设备采购" in filtered and "年金" not in filtered
    by_unit = client.get("/disclosures/?unit=MCH").get_data(as_text=True)
    assert "除尘设备采购" in by_unit  # MCH-PUR is a sub-unit of MCH
    assert "财务预算" not in by_unit
    by_period = client.get("/disclosures/?period=2026-Q1").get_data(as_text=True)
    assert "第一季度安全生产" in by_period and "除尘设备" not in by_period
    assert client.get("/disclosures/?category=no-such").status_code == 404
    assert client.get("/disclosures/?year=abc").status_code == 404


def test_index_pages(db, demo, public_app):
    for n in range(25):
        publish_item(db, title=f"分页测试{n:02d}")
    client = public_app.test_client()
    first = client.get("/disclosures/?category=procurement").get_data(as_text=True)
    assert "分页测试24" in first and 'rel="next"' in first
    second = client.get("/disclosures/?category=procurement&page=2").get_data(as_text=True)
    assert "分页测试24" not in second and "分页测试00" in second


def test_item_history_shows_revision_notice_and_diff(demo, public_app):
    client = public_app.test_client()
    with public_app.app_context():
        pass
    index = client.get("/disclosures/?category=procurement&lang=en").get_data(as_text=True)
    assert "除尘设备采购招标结果公示" in index
    from sqlalchemy import select

    db = public_app.extensions["portal.db"]
    with db.session() as session:
        d = session.scalar(select(Disclosure).where(Disclosure.public_title.like("%除尘设备%")))
        d_id = d.id
    page = client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    assert "126.8万元" in page and "128.6万元" not in page
    assert "Revised on" in page and "中标金额录入错误" in page
    history = client.get(f"/disclosures/{d_id}/history").get_data(as_text=True)
    # The figure as corrected in the demo: 128.6 struck out, 126.8 put in, digit by digit,
    # in the text as rendered (bold stays bold), never as Markdown source.
    assert "中标金额 <strong>12<del>8.6</del><ins>6.8</ins>万元</strong>" in history
    assert "**" not in history
    assert "128.6" in history and "126.8" in history


def test_retracted_item_shows_notice_and_keeps_history(demo, public_app):
    from sqlalchemy import select

    with public_app.extensions["portal.db"].session() as session:
        d = session.scalar(select(Disclosure).where(Disclosure.public_title.like("%食堂承包商%")))
        d_id = d.id
    client = public_app.test_client()
    page = client.get(f"/disclosures/{d_id}?lang=en").get_data(as_text=True)
    assert "This disclosure was retracted" in page and "程序瑕疵" in page
    assert "某餐饮管理公司" not in page
    history = client.get(f"/disclosures/{d_id}/history").get_data(as_text=True)
    assert "某餐饮管理公司" in history


def test_print_view_has_qr_code_from_our_origin_and_checkpoint(db, demo, public_app):
    d_id = publish_item(db, title="打印测试")
    client = public_app.test_client()
    client.get("/log/checkpoint")
    page = client.get(f"/disclosures/{d_id}/print?lang=en").get_data(as_text=True)
    assert f'src="/disclosures/{d_id}/qr.svg"' in page
    assert "css/print.css" in page and " style=" not in page
    assert "Included in the signed checkpoint" in page
    qr = client.get(f"/disclosures/{d_id}/qr.svg")
    assert qr.mimetype == "image/svg+xml" and b"<svg" in qr.data and b"<script" not in qr.data


def test_atom_feed_per_category_and_unit(demo, public_app):
    client = public_app.test_client()
    feed = client.get("/disclosures/feed.atom?category=procurement")
    assert feed.mimetype == "application/atom+xml"
    body = feed.get_data(as_text=True)
    assert body.startswith("<?xml") and "除尘设备采购" in body and "年金" not in body
    by_unit = client.get("/disclosures/feed.atom?unit=CHM").get_data(as_text=True)
    assert "canteen meal subsidy" in by_unit and "除尘设备" not in by_unit


def test_home_shows_latest(demo, public_app):
    page = public_app.test_client().get("/?lang=en").get_data(as_text=True)
    assert "Latest disclosures" in page and "canteen meal subsidy" in page


def test_unpublished_draft_is_404(db, demo, public_app):
    with db() as session:
        d = drafting.create_draft(session, staff(session, "publisher"), draft_fields(session))
        d_id = d.id
    client = public_app.test_client()
    for path in ("", "/history", "/print", "/qr.svg"):
        assert client.get(f"/disclosures/{d_id}{path}").status_code == 404


def test_catalogue_shows_overdue_periodic_item(demo, public_app, console_app, auth):
    client = public_app.test_client()
    page = client.get("/disclosures/catalogue/GRP?lang=en").get_data(as_text=True)
    assert "Overdue" in page and "periodic disclosures of this unit are overdue" in page
    assert "allowances, vehicles" in page
    auth.login("publisher")
    console = auth.client.get("/publish/?lang=en").get_data(as_text=True)
    assert "Overdue" in console


def test_restricted_scope_entries_are_hidden_from_catalogue(db, demo, public_app, instance):
    from datetime import date

    with db() as session:
        catalogue.add_catalogue_entry(
            session,
            categories.category_by_code(session, "party-dues"),
            units.by_code(session, "CHM"),
            Period.yearly,
            30,
            date(2020, 1, 1),
            Scope.party,
        )
    page = public_app.test_client().get("/disclosures/catalogue/CHM").get_data(as_text=True)
    assert "党费收缴" not in page
    # A party member of the unit, known through the trusted proxy, has the entry listed.
    members = instance.app("public", READER_HEADER="X-Remote-User", TRUSTED_PROXIES="127.0.0.1")
    member = {"X-Remote-User": "li.na", "X-Remote-Unit": "CHM", "X-Remote-Party": "1"}
    page = members.test_client().get(
        "/disclosures/catalogue/CHM", headers=member, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert "党费收缴和使用" in page.get_data(as_text=True)


def test_a_restricted_item_under_an_open_entry_is_neither_linked_nor_counted(db, demo, public_app):
    from datetime import date

    with db() as session:
        catalogue.add_catalogue_entry(
            session,
            categories.category_by_code(session, "party-dues"),
            units.by_code(session, "CHM"),
            Period.quarterly,
            30,
            date(2026, 1, 1),
            Scope.everyone,
        )
    with db() as session:
        author = staff(session, "publisher")
        fields = draft_fields(
            session,
            title="党费收缴情况（仅党员）",
            category=categories.category_by_code(session, "party-dues"),
            unit=units.by_code(session, "CHM"),
            scope=Scope.party,
            period_key="2026-Q1",
        )
        draft = drafting.create_draft(session, author, fields)
        drafting.submit_for_review(session, draft, author)
        reviewing.approve(session, draft, staff(session, "approver"))
        d_id = draft.id
    with db() as session:
        reader_view = catalogue.catalogue_status(
            session,
            date(2026, 12, 2),
            unit=units.by_code(session, "CHM"),
            reader=ANONYMOUS,
        )
        member_view = catalogue.catalogue_status(
            session,
            date(2026, 12, 2),
            unit=units.by_code(session, "CHM"),
            reader=visibility.Reader(name="li.na", party_member=True),
        )
    assert all(d_id not in status.published.values() for status in reader_view)
    assert any(d_id in status.published.values() for status in member_view)
    page = public_app.test_client().get("/disclosures/catalogue/CHM").get_data(as_text=True)
    assert f"/disclosures/{d_id}" not in page


def test_year_filter_offers_the_years_a_reader_may_see(db, demo, public_app):
    from datetime import UTC, datetime

    def publish_at(title, at, **overrides):
        with db() as session:
            author = staff(session, "publisher")
            draft = drafting.create_draft(
                session, author, draft_fields(session, title=title, **overrides)
            )
            publishing.publish(session, draft, at=at)

    publish_at("跨年夜发布事项", datetime(2019, 12, 31, 23, 30, tzinfo=UTC))
    publish_at("年中发布事项", datetime(2021, 6, 1, 8, 0, tzinfo=UTC))
    publish_at("党员年份事项", datetime(2018, 3, 1, tzinfo=UTC), scope=Scope.party)
    with db() as session:
        years = listings.years_in_use(session, ANONYMOUS)
        party_years = listings.years_in_use(
            session, visibility.Reader(name="li.na", party_member=True)
        )
    assert years == sorted(set(years), reverse=True)
    assert {2019, 2021} <= set(years) and 2018 not in years
    assert 2018 in party_years
    client = public_app.test_client()
    page = client.get("/disclosures/").get_data(as_text=True)
    assert '<option value="2019">' in page and '<option value="2018">' not in page
    in_2019 = client.get("/disclosures/?year=2019").get_data(as_text=True)
    assert "跨年夜发布事项" in in_2019 and "年中发布事项" not in in_2019


@pytest.mark.parametrize("empty_instance", ["sqlite"], indirect=True)
def test_counting_what_a_reader_may_see_reads_only_an_index(db, demo):
    from sqlalchemy import func, select

    with db() as session:
        statement = select(func.count(Disclosure.id)).where(
            visibility.visible_clause(session, ANONYMOUS)
        )
        sql = str(statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "COVERING INDEX ix_disclosures_visible" in plan, plan
