"""Administration changes at the same moment as another change they rule out: the second
waits for the first and sees what it did (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from app.models import Report, ReportCategoryEntry, Role, StaffRole, StaffUser, Unit
from app.services import staff, units
from app.services.reports import categories, submission
from app.services.reports.errors import ReportInvalid
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form

WAIT = 1  # seconds a change must still be waiting for the other one


def _in_thread(work: Callable[[], str], outcome: dict[str, object]) -> threading.Thread:
    def run() -> None:
        try:
            outcome["second"] = work()
        except Exception as exc:  # shown by the assertion on the outcome
            outcome["second"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _reports_about(db, code: str) -> int:
    with db() as session:
        unit = units.by_code(session, code)
        return session.scalar(
            select(func.count()).select_from(Report).where(Report.unit_id == unit.id)
        )


# --- A unit closed while a report about it is sent --------------------------------------------


def test_a_report_sent_while_its_unit_is_being_closed_is_refused(db, org, blobs):
    outcome: dict[str, object] = {}

    def send() -> str:
        with db() as session:
            try:
                submission.submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
            except ReportInvalid as invalid:
                return f"refused {invalid.errors}"
        return "stored"

    with db() as first:
        units.close_unit(first, units.by_code(first, "MCH-PUR"), TODAY)
        thread = _in_thread(send, outcome)
        thread.join(WAIT)
        assert thread.is_alive(), "the report must wait for the unit's closing"
        first.commit()
    thread.join(30)
    assert outcome == {"second": "refused {'unit_code': 'unknown'}"}
    assert _reports_about(db, "MCH-PUR") == 0


def test_a_report_checked_before_its_unit_was_closed_is_refused_when_stored(db, org, blobs):
    with db() as session:
        routed = submission.check_and_route(session, form())
        with db() as other:
            units.close_unit(other, units.by_code(other, "MCH-PUR"), TODAY)
            other.commit()
        with pytest.raises(ReportInvalid) as refused:
            submission.submit(session, blobs, PEPPER, routed, [], TODAY, PARAMS)
    assert refused.value.errors == {"unit_code": "unknown"}
    assert _reports_about(db, "MCH-PUR") == 0


def test_a_unit_is_not_closed_while_a_report_about_it_is_being_stored(db, org, blobs, monkeypatch):
    stored, go = threading.Event(), threading.Event()
    real_commit = submission.commit_durably

    def paused_commit(session, day_start):
        stored.set()
        go.wait(30)
        real_commit(session, day_start)

    monkeypatch.setattr(submission, "commit_durably", paused_commit)
    sent: dict[str, object] = {}

    def send() -> str:
        with db() as session:
            submission.submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
        return "stored"

    sender = _in_thread(send, sent)
    assert stored.wait(30)
    closed: dict[str, object] = {}

    def close() -> str:
        with db() as session:
            try:
                units.close_unit(session, units.by_code(session, "MCH-PUR"), TODAY)
            except units.UnitError as exc:
                return f"refused {len(exc.cases)}"
            session.commit()
        return "closed"

    closer = _in_thread(close, closed)
    closer.join(WAIT)
    assert closer.is_alive(), "the closing must wait for the report being stored"
    go.set()
    sender.join(30)
    closer.join(30)
    assert sent == {"second": "stored"}
    assert closed == {"second": "refused 1"}
    with db() as session:
        assert units.by_code(session, "MCH-PUR").closed_on is None


# --- A sub-unit added under a unit being closed -----------------------------------------------


def test_a_sub_unit_is_not_added_under_a_unit_being_closed(db, org):
    outcome: dict[str, object] = {}

    def add() -> str:
        with db() as session:
            parent = units.by_code(session, "MCH-PUR")
            try:
                units.add_unit(session, "MCH-PUR-A", "招标组", "Tenders", "department", parent)
            except units.UnitError as exc:
                return f"refused {exc.field}"
            session.commit()
        return "added"

    with db() as first:
        units.close_unit(first, units.by_code(first, "MCH-PUR"), TODAY)
        thread = _in_thread(add, outcome)
        thread.join(WAIT)
        assert thread.is_alive(), "the new unit must wait for its parent's closing"
        first.commit()
    thread.join(30)
    assert outcome == {"second": "refused parent"}
    with db() as session:
        assert units.by_code(session, "MCH-PUR-A") is None


def test_a_unit_is_not_closed_while_a_sub_unit_is_being_added_under_it(db, org):
    outcome: dict[str, object] = {}

    def close() -> str:
        with db() as session:
            try:
                units.close_unit(session, units.by_code(session, "MCH-PUR"), TODAY)
            except units.UnitError:
                return "refused"
            session.commit()
        return "closed"

    with db() as first:
        parent = units.by_code(first, "MCH-PUR")
        units.add_unit(first, "MCH-PUR-A", "招标组", "Tenders", "department", parent)
        thread = _in_thread(close, outcome)
        thread.join(WAIT)
        assert thread.is_alive(), "the closing must wait for the new sub-unit"
        first.commit()
    thread.join(30)
    assert outcome == {"second": "refused"}
    with db() as session:
        assert units.by_code(session, "MCH-PUR").closed_on is None
        child = session.scalar(select(Unit).where(Unit.code == "MCH-PUR-A"))
        assert child.parent.code == "MCH-PUR"


# --- The last two categories retired at once --------------------------------------------------


def test_the_last_two_categories_retired_at_once_leave_one_offered(db, org):
    with db() as session:
        offered = [c.code for c in categories.list_categories(session, active_only=True)]
        for code in offered[2:]:
            categories.set_active(session, code, False)
        session.commit()
    first_code, second_code = offered[:2]
    outcome: dict[str, object] = {}

    def retire() -> str:
        with db() as session:
            try:
                categories.set_active(session, second_code, False)
            except categories.CategoryError as exc:
                return exc.reason
            session.commit()
        return "retired"

    with db() as first:
        categories.set_active(first, first_code, False)
        thread = _in_thread(retire, outcome)
        thread.join(WAIT)
        assert thread.is_alive(), "the second retirement must wait for the first"
        first.commit()
    thread.join(30)
    assert outcome == {"second": "last_offered"}
    with db() as session:
        still = session.scalars(
            select(ReportCategoryEntry.code).where(ReportCategoryEntry.active.is_(True))
        )
        assert list(still) == [second_code]


# --- Two administrators who take each other's role ---------------------------------------------


def _two_admins(db) -> tuple[int, int]:
    with db() as session:
        for row in session.scalars(select(StaffRole).where(StaffRole.role == Role.admin)):
            session.delete(row)  # only the two below administer
        made = []
        for username, name in (("admin.a", "管理员 甲"), ("admin.b", "管理员 乙")):
            user = staff.create_user(session, username, name, None, [Role.admin])
            user.password_hash = "enrolled"  # as after enrolment (any record but NO_PASSWORD)
            made.append(user)
        session.commit()
        return made[0].id, made[1].id


def _still_admins(db) -> list[str]:
    with db() as session:
        query = (
            select(StaffUser.username)
            .join(StaffRole)
            .where(StaffRole.role == Role.admin, StaffUser.active.is_(True))
            .order_by(StaffUser.username)
        )
        return list(session.scalars(query))


@pytest.mark.parametrize("change", ["roles", "disable"])
def test_two_administrators_cannot_remove_each_other_at_once(db, org, change):
    first_id, second_id = _two_admins(db)

    def remove(session, user_id: int) -> None:
        user = session.get(StaffUser, user_id)
        if change == "roles":
            staff.set_roles(session, user, [Role.auditor])
        else:
            staff.set_active(session, user.username, False)

    outcome: dict[str, object] = {}

    def second() -> str:
        with db() as session:
            try:
                remove(session, first_id)
            except staff.StaffError as exc:
                return exc.reason
            session.commit()
        return "removed"

    with db() as first:
        remove(first, second_id)
        thread = _in_thread(second, outcome)
        thread.join(WAIT)
        assert thread.is_alive(), "the second change must wait for the first"
        first.commit()
    thread.join(30)
    assert outcome == {"second": "last_admin"}
    assert _still_admins(db) == ["admin.a"]
    # And alone, the last one cannot be removed either.
    with db() as session, pytest.raises(staff.StaffError):
        remove(session, first_id)
