"""The dates a report's reporter is owed a word by, and which of them are still open.

- acknowledge within ``acknowledge_days`` days of receipt (EU directive 2019/1937, art. 9);
- feedback (the case concluded or answered) within ``feedback_months`` months;
- a real-name reporter told within ``notice_working_days`` working days whether the report is
  taken up, and again within as many working days of its conclusion.

Deadlines in days or months that end on a weekend or holiday move to the next working day;
working days follow the official calendar (calendar.py). A case's ``next_due`` is the earliest
date of a step still open, so that the inbox sorts and filters on one indexed column; every
change that may close or open a step calls ``refresh``.
"""

from __future__ import annotations

import calendar as month_lengths
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.models import Case, Report, ReportKind, ReportStatus
from app.services.cases.calendar import WorkCalendar

DONE = frozenset({ReportStatus.concluded, ReportStatus.answered})
# Statuses in which the office has decided whether it takes the report up.
TAKEN_UP = frozenset({ReportStatus.under_assessment, ReportStatus.disposal_decided, *DONE})


@dataclass(frozen=True)
class DeadlineRules:
    acknowledge_days: int = 7
    feedback_months: int = 3
    notice_working_days: int = 15
    due_soon_days: int = 5  # the dashboard lists steps due within this many days
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeadlineRules:
        return cls(
            acknowledge_days=config["CASE_ACKNOWLEDGE_DAYS"],
            feedback_months=config["CASE_FEEDBACK_MONTHS"],
            notice_working_days=config["CASE_NOTICE_WORKING_DAYS"],
            due_soon_days=config["CASE_DUE_SOON_DAYS"],
            calendar=WorkCalendar.from_config(config.get("WORK_CALENDAR")),
        )

    def acknowledge_by(self, received_on: date) -> date:
        return self.calendar.on_or_after(received_on + timedelta(days=self.acknowledge_days))

    def feedback_by(self, received_on: date) -> date:
        return self.calendar.on_or_after(add_months(received_on, self.feedback_months))

    def notice_by(self, start: date) -> date:
        return self.calendar.add_working_days(start, self.notice_working_days)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, month_lengths.monthrange(year, month)[1]))


class Step(enum.StrEnum):
    acknowledge = "acknowledge"
    take_up_notice = "take_up_notice"  # real name: whether the report is taken up
    feedback = "feedback"
    conclusion_notice = "conclusion_notice"  # real name: the outcome


@dataclass(frozen=True)
class StepState:
    step: Step
    due: date
    done: bool
    overdue: bool


def steps(report: Report, case: Case, today: date) -> list[StepState]:
    """The steps the reporter is owed, in order, each with its date and whether it is met."""
    found = [
        (Step.acknowledge, report.acknowledge_by, report.status != ReportStatus.received),
    ]
    if case.take_up_notice_by is not None:
        found.append(
            (Step.take_up_notice, case.take_up_notice_by, case.take_up_told_on is not None)
        )
    found.append((Step.feedback, report.feedback_by, report.status in DONE))
    if case.conclusion_notice_by is not None:
        found.append(
            (Step.conclusion_notice, case.conclusion_notice_by, case.outcome_told_on is not None)
        )
    return [StepState(step, due, done, not done and due < today) for step, due, done in found]


def refresh(report: Report, case: Case) -> None:
    """Set ``case.next_due`` to the earliest date of a step still open (None: none is)."""
    open_dates = [s.due for s in steps(report, case, date.min) if not s.done]
    case.next_due = min(open_dates) if open_dates else None


def new_case(report: Report, rules: DeadlineRules) -> Case:
    """The case of a report just received: a real-name report owes a take-up notice."""
    case = Case(report=report, version=1, reporter_version=0)
    if report.real_name:
        case.take_up_notice_by = rules.notice_by(report.received_on)
    refresh(report, case)
    return case


def concluded(report: Report, case: Case, today: date, rules: DeadlineRules) -> None:
    """The case has just been concluded (or answered) on ``today``."""
    case.concluded_on = today
    if report.real_name and report.kind == ReportKind.misconduct:
        case.conclusion_notice_by = rules.notice_by(today)
    refresh(report, case)


def office_wrote(report: Report, case: Case, today: date) -> None:
    """The office wrote to the reporter on ``today``: which notices that gives.

    A message once the report is taken up (under assessment or later; a suggestion once it
    is acknowledged) tells whether it is; one on or after the conclusion tells the outcome.
    """
    taken_up = report.status in TAKEN_UP or (
        report.kind == ReportKind.criticism and report.status != ReportStatus.received
    )
    if case.take_up_notice_by is not None and case.take_up_told_on is None and taken_up:
        case.take_up_told_on = today
    if case.conclusion_notice_by is not None and case.outcome_told_on is None:
        case.outcome_told_on = today
    refresh(report, case)
