"""Disposal decisions when people act at the same moment or on a page that is out of date: each
step names the decision it is about, and two steps at once are taken one after the other (on
SQLite and PostgreSQL alike). Chinese data throughout."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.models import CaseDecision, DecisionState, Disposal, Report, ReportStatus, StaffUser
from app.services.cases import decisions
from app.services.cases.errors import CaseError
from tests.helpers.case_console import send_report
from tests.helpers.reports import TODAY


def _staff(session, org, name) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


@pytest.fixture
def report_id(db, blobs):
    report_id = send_report(db, blobs, persons="食堂管理员 李某", files=False)
    with db() as session:
        session.get(Report, report_id).status = ReportStatus.under_assessment
    return report_id


def _pending(session, report_id) -> list[CaseDecision]:
    return list(
        session.scalars(
            select(CaseDecision).where(
                CaseDecision.report_id == report_id, CaseDecision.state == DecisionState.pending
            )
        )
    )


def test_a_click_meant_for_a_withdrawn_proposal_does_not_touch_its_replacement(db, org, report_id):
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp1")
        seen = decisions.propose(session, insp, report, Disposal.closed_no_action, TODAY).id
    # The head read the page with ``seen``; meanwhile the inspector replaced it.
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp1")
        decisions.withdraw(session, insp, report, seen)
        now = decisions.propose(session, insp, report, Disposal.sent_for_investigation, TODAY).id
    with db() as session:
        report = session.get(Report, report_id)
        head = _staff(session, org, "mch.head")
        for step in (
            lambda: decisions.confirm(session, head, report, seen, TODAY),
            lambda: decisions.record(session, head, report, seen, TODAY),
            lambda: decisions.withdraw(session, head, report, seen),
            lambda: decisions.confirm(session, head, report, "", TODAY),
        ):
            with pytest.raises(CaseError, match="decision_changed"):
                step()
        session.rollback()
    with db() as session:
        (pending,) = _pending(session, report_id)
        assert pending.id == now
        assert [m.staff_id for m in pending.members] == [org.staff["mch.insp1"]]
        # The decision the head saw is withdrawn: naming it again finds nothing to confirm.
        report = session.get(Report, report_id)
        decisions.withdraw(session, _staff(session, org, "mch.insp1"), report, now)
        with pytest.raises(CaseError, match="no_pending_decision"):
            decisions.confirm(session, _staff(session, org, "mch.head"), report, now, TODAY)


def _at_once(db, monkeypatch, *steps):
    """Run ``steps`` (each given a session) in threads of their own, each with its own session,
    all having read the case before any of them goes on; the errors each raised (or None)."""
    together = threading.Barrier(len(steps), timeout=10)
    readable = decisions.readable_case

    def read_then_wait(session, staff, report_id):
        found = readable(session, staff, report_id)
        together.wait()
        return found

    monkeypatch.setattr(decisions, "readable_case", read_then_wait)
    outcome: list[BaseException | None] = [None] * len(steps)

    def run(number, step):
        try:
            with db() as session:
                step(session)
        except BaseException as exc:  # looked at by the caller
            outcome[number] = exc

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    monkeypatch.undo()
    return outcome


def test_two_proposals_at_the_same_moment_leave_one_pending(db, org, report_id, monkeypatch):
    def propose(name, disposal):
        def step(session):
            report = session.get(Report, report_id)
            decisions.propose(session, _staff(session, org, name), report, disposal, TODAY)

        return step

    outcome = _at_once(
        db,
        monkeypatch,
        propose("mch.insp1", Disposal.talk_or_inquiry),
        propose("mch.head", Disposal.closed_no_action),
    )
    refused = [e for e in outcome if e is not None]
    assert len(refused) == 1, outcome
    assert isinstance(refused[0], CaseError) and refused[0].message_key == "decision_pending"
    with db() as session:
        assert len(_pending(session, report_id)) == 1


def test_a_second_pending_decision_is_refused_by_the_database(db, org, report_id):
    from sqlalchemy.exc import IntegrityError

    with db() as session:
        decisions.propose(
            session,
            _staff(session, org, "mch.insp1"),
            session.get(Report, report_id),
            Disposal.talk_or_inquiry,
            TODAY,
        )
    with pytest.raises(IntegrityError), db() as session:
        session.add(
            CaseDecision(
                report_id=report_id,
                disposal=Disposal.closed_no_action,
                state=DecisionState.pending,
                proposed_by=org.staff["mch.head"],
                proposed_on=TODAY,
            )
        )
        session.flush()


def test_the_same_person_confirming_from_two_sessions_is_refused_once(
    db, org, report_id, monkeypatch
):
    with db() as session:
        decision_id = decisions.propose(
            session,
            _staff(session, org, "mch.insp1"),
            session.get(Report, report_id),
            Disposal.preliminary_verification,
            TODAY,
        ).id

    def confirm(session):
        report = session.get(Report, report_id)
        decisions.confirm(session, _staff(session, org, "mch.head"), report, decision_id, TODAY)

    outcome = _at_once(db, monkeypatch, confirm, confirm)
    refused = [e for e in outcome if e is not None]
    assert len(refused) == 1, outcome
    assert isinstance(refused[0], CaseError) and refused[0].message_key == "already_confirmed"
    with db() as session:
        (pending,) = _pending(session, report_id)
        assert sorted(m.staff_id for m in pending.members) == sorted(
            [org.staff["mch.insp1"], org.staff["mch.head"]]
        )
        assert session.scalar(select(func.count()).select_from(CaseDecision)) == 1
