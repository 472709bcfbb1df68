"""The working-day calendar's years kept in the database (/admin/calendar): entered by the
administrator, audited, listed with where each year comes from, and counted by every deadline
computed after the change, in every app (as in every server process); bad input refused."""

from __future__ import annotations

from datetime import date
from html import unescape

import pytest

from app.cli.jobs import job_context
from app.resources import deadline_rules
from app.services.cases import work_days
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import post_report, report_form_data

NATIONAL_DAY = "\n".join(f"2027-10-0{d}" for d in range(1, 8))
RECEIVED = date(2027, 9, 24)  # a Friday: acknowledgement owed 7 days later, on 1 October


def _save(client, year="2027", holidays=NATIONAL_DAY, workdays="2027-10-09", lang=None):
    page = client.get(f"/admin/calendar?year=2027{'&lang=' + lang if lang else ''}")
    return client.post(
        "/admin/calendar",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "cal-year": year,
            "cal-holidays": holidays,
            "cal-workdays": workdays,
        },
    )


def _stored(db) -> list:
    with db() as session:
        return work_days.stored_years(session)


def _acknowledge_by(app, received: date = RECEIVED) -> date:
    with app.test_request_context("/"):
        return deadline_rules().acknowledge_by(received)


def test_admin_enters_a_year_and_it_is_audited_and_listed(console_app, demo, db, audit_entries):
    admin = signed_in(console_app, "admin")
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "chinese-calendar 软件包不包含 2027 年" in page
    saved = _save(admin)
    assert saved.status_code == 302
    [year] = _stored(db)
    assert year.year == 2027
    assert year.holidays == tuple(date(2027, 10, d) for d in range(1, 8))
    assert year.workdays == (date(2027, 10, 9),)
    [entry] = [e for e in audit_entries if e.action == "admin_change"]
    assert entry.actor == "admin"
    assert entry.detail.startswith("working-day calendar 2027 set: 7 holidays (2027-10-01, ")
    assert entry.detail.endswith("1 workdays (2027-10-09)")

    shown = admin.get(saved.headers["Location"]).get_data(as_text=True)
    assert "2027</a> 年的日期已保存" in shown  # the confirmation, linking to the year
    assert "2027-10-01, 2027-10-02" in shown and "本页" in shown
    assert "2027-10-01\n2027-10-02" in shown  # the form shows the year's days to edit

    # Both lists empty: the year leaves the database, and that is audited too.
    assert _save(admin, holidays="", workdays="").status_code == 302
    assert _stored(db) == []
    assert [e.detail for e in audit_entries][-1] == (
        "working-day calendar 2027 removed from the database"
    )


def test_a_year_saved_moves_the_deadlines_computed_after_it_in_every_app(
    console_app, demo, db, public_app, monkeypatch
):
    assert _acknowledge_by(public_app) == date(2027, 10, 1)  # 2027 unknown: a Friday worked
    admin = signed_in(console_app, "admin")
    assert _save(admin).status_code == 302
    # The public app (another process in production) reads the change on its next request.
    assert _acknowledge_by(public_app) == date(2027, 10, 8)
    assert _acknowledge_by(console_app) == date(2027, 10, 8)
    # The digest job (its days due soon) counts on it too.
    with console_app.app_context(), job_context() as context:
        assert context.digest is not None
        calendar = context.digest.calendar
        assert not calendar.is_workday(date(2027, 10, 4))
        assert calendar.is_workday(date(2027, 10, 9)) and calendar.known(2027)

    # A report received on that Friday owes its acknowledgement after the holidays.
    import app.public.reports.views as report_views

    monkeypatch.setattr(report_views, "today", lambda: RECEIVED)
    client = public_app.test_client()
    sent = post_report(client, report_form_data(client))
    assert sent.status_code == 200, sent.get_data(as_text=True)[:400]
    from sqlalchemy import select

    from app.models import Report

    with db() as session:
        assert session.scalars(select(Report.acknowledge_by)).all() == [date(2027, 10, 8)]


def test_the_database_s_year_replaces_the_setting_s_year(instance, demo, db):
    setting = {"2027": {"holidays": ["2027-09-30", "2027-10-01"]}}
    console = instance.app("console", WORK_CALENDAR=setting)
    public = instance.app("public", WORK_CALENDAR=setting)
    assert _acknowledge_by(public, date(2027, 9, 23)) == date(2027, 10, 4)  # the setting's days
    admin = signed_in(console, "admin")
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "config.toml（WORK_CALENDAR）" in page and "2027-09-30\n2027-10-01" in page
    assert _save(admin, holidays="2027-10-04", workdays="").status_code == 302
    # Not merged day by day: 30 September is worked again, 4 October is off.
    assert _acknowledge_by(public, date(2027, 9, 23)) == date(2027, 9, 30)
    assert _acknowledge_by(public, date(2027, 9, 27)) == date(2027, 10, 5)
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "取代 config.toml 中的该年度" in page


@pytest.mark.parametrize(
    ("year", "holidays", "workdays", "field", "expected"),
    [
        (
            "2027",
            "2026-10-01",
            "",
            "holidays",
            {"zh": "2026-10-01 不在所选年度内", "en": "not in the year"},
        ),
        (
            "2027",
            "2027-10-01",
            "2027-10-01",
            "workdays",
            {"zh": "既是节假日又是调休上班日", "en": "both a holiday"},
        ),
        (
            "2027",
            "2027-13-01",
            "",
            "holidays",
            {"zh": "2027-13-01 不是日期", "en": "is not a date"},
        ),
        ("2027", "二〇二七年十月一日", "", "holidays", {"zh": "不是日期", "en": "is not a date"}),
        ("2027", "2027-10-01", "10/09/2027", "workdays", {"zh": "不是日期", "en": "is not a date"}),
        (
            "99999",
            "2027-10-01",
            "",
            "year",
            {"zh": "2000 至 2099 之间的年份", "en": "from 2000 to 2099"},
        ),
        (str(2**64), "2027-10-01", "", "year", {"zh": "2000 至 2099", "en": "from 2000 to 2099"}),
        ("１９９９", "2027-10-01", "", "year", {"zh": "2000 至 2099", "en": "from 2000 to 2099"}),
        ("-1", "2027-10-01", "", "year", {"zh": "2000 至 2099", "en": "from 2000 to 2099"}),
        ("", "2027-10-01", "", "year", {"zh": "请输入年份", "en": "Enter a year"}),
        ("2027", "2027-10-01\n" * 1000, "", "holidays", {"zh": "4392", "en": "4392"}),
    ],
)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bad_input_is_refused_with_what_was_typed(
    console_app, demo, db, audit_entries, year, holidays, workdays, field, expected, lang
):
    admin = signed_in(console_app, "admin")
    refused = _save(admin, year, holidays, workdays, lang=lang)
    assert refused.status_code == 400
    page = unescape(refused.get_data(as_text=True))
    errors = page[page.index(f'id="cal-{field}-errors"') :]
    assert expected[lang] in errors[: errors.index("</ul>")]
    assert f'value="{year}"' in page  # what was typed comes back
    if len(holidays) < 100:
        assert holidays.strip() in page and workdays in page
    assert _stored(db) == []
    assert not [e for e in audit_entries if e.action == "admin_change"]


def test_the_page_takes_any_year_in_its_address(console_app, demo):
    admin = signed_in(console_app, "admin")
    for year in ("99999", str(2**64), "二〇二七", ""):
        assert admin.get("/admin/calendar", query_string={"year": year}).status_code == 200


@pytest.mark.parametrize("username", ["publisher", "approver", "auditor", "inspector"])
def test_other_roles_are_refused(console_app, demo, db, username):
    client = signed_in(console_app, username)
    assert client.get("/admin/calendar").status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    posted = client.post(
        "/admin/calendar",
        data={"csrf_token": token, "cal-year": "2027", "cal-holidays": "2027-10-01"},
    )
    assert posted.status_code == 403
    assert _stored(db) == []


def test_the_service_checks_what_it_stores(db, instance):
    with db() as session:
        with pytest.raises(work_days.CalendarError) as both:
            work_days.save_year(
                session, 2027, frozenset({date(2027, 10, 1)}), frozenset({date(2027, 10, 1)})
            )
        assert both.value.reason == "both"
        with pytest.raises(work_days.CalendarError) as outside:
            work_days.save_year(session, 2027, frozenset({date(2028, 1, 1)}), frozenset())
        assert outside.value.reason == "outside_year"
        with pytest.raises(work_days.CalendarError):
            work_days.save_year(session, 99999, frozenset(), frozenset())
    assert work_days.parse_days(2027, "2027-10-01，2027-10-02、 2027-10-03\r\n") == frozenset(
        date(2027, 10, d) for d in (1, 2, 3)
    )


def test_a_year_the_package_knows_starts_from_its_days(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    page = admin.get("/admin/calendar?year=2026").get_data(as_text=True)
    holidays = page[
        page.index('name="cal-holidays"') : page.index(
            "</textarea>", page.index('name="cal-holidays"')
        )
    ]
    workdays = page[
        page.index('name="cal-workdays"') : page.index(
            "</textarea>", page.index('name="cal-workdays"')
        )
    ]
    assert "2026-10-01" in holidays and "2026-10-07" in holidays  # 国庆节
    assert "2026-10-10" in workdays  # the Saturday worked in exchange
    assert "chinese-calendar 软件包为 2026 年给出的日期" in page
    assert _stored(db) == []  # shown, not stored


def test_a_year_sent_without_its_lists_is_refused_and_keeps_its_days(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    assert _save(admin).status_code == 302
    before = _stored(db)
    page = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    refused = admin.post(
        "/admin/calendar", data={"csrf_token": csrf_token(page), "cal-year": "2027"}
    )
    assert refused.status_code == 400
    assert "缺少此项" in refused.get_data(as_text=True)
    assert _stored(db) == before
