"""Working days on the official calendar, and the dates a reporter is owed."""

from datetime import date

import pytest

from app.services.cases.calendar import WorkCalendar
from app.services.cases.deadlines import DeadlineRules


def test_national_day_week_and_its_make_up_saturday():
    calendar = WorkCalendar()
    assert not calendar.is_workday(date(2026, 10, 1))  # 国庆节
    assert calendar.is_workday(date(2026, 10, 10))  # the Saturday worked in exchange
    assert calendar.known(2026)
    # 15 working days from the eve of the holidays skip the whole week off (1-7 October) and
    # count the Saturday worked: 8, 9, 10, 12 ... 23, 26, 27 October.
    assert calendar.add_working_days(date(2026, 9, 30), 15) == date(2026, 10, 27)


def test_a_year_the_package_does_not_know_counts_weekdays_and_says_so():
    calendar = WorkCalendar()
    assert not calendar.known(2031)
    assert calendar.unknown_years([date(2031, 1, 1), None, date(2026, 5, 1)]) == [2031]
    assert calendar.is_workday(date(2031, 1, 1))  # a Wednesday: New Year unknown, so worked
    assert not calendar.is_workday(date(2031, 1, 4))  # Saturday


def test_a_year_given_in_the_settings_replaces_the_package():
    calendar = WorkCalendar.from_config(
        {"2026": {"holidays": ["2026-12-01"], "workdays": ["2026-10-03"]}}
    )
    assert not calendar.is_workday(date(2026, 12, 1))  # the installation's own holiday
    assert calendar.is_workday(date(2026, 10, 3))
    assert calendar.is_workday(date(2026, 10, 1))  # the package's holiday is not used for 2026
    assert WorkCalendar.from_config({"2031": {"holidays": []}}).known(2031)


@pytest.mark.parametrize(
    "setting",
    [
        {"26": {}},
        {"2026": {"holidays": ["2027-01-01"]}},
        {"2026": {"holidays": ["二〇二六年"]}},
        {"2026": {"holidays": ["2026-10-01"], "workdays": ["2026-10-01"]}},
        {"2026": {"days": []}},
        ["2026-10-01"],
    ],
)
def test_a_wrong_calendar_setting_is_named(setting):
    with pytest.raises(ValueError):
        WorkCalendar.from_config(setting)


def test_wrong_calendar_setting_stops_the_app(tmp_path):
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="WORK_CALENDAR"):
        create_app("console", {"WORK_CALENDAR": {"2026": {"holidays": ["10/01"]}}})


def test_deadlines_in_days_move_off_holidays():
    rules = DeadlineRules()
    # Received 24 September 2026: 7 days end on 1 October (National Day): the office has
    # until the first working day after the holidays.
    assert rules.acknowledge_by(date(2026, 9, 24)) == date(2026, 10, 8)
    assert rules.feedback_by(date(2026, 7, 1)) == date(2026, 10, 8)
    assert rules.notice_by(date(2026, 9, 30)) == date(2026, 10, 27)
