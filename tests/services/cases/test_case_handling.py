"""Handling a case: the status rules, assignment, labels, notes, replies, decisions and the
deadlines they close, each with who may do it and its audit entry. Chinese data throughout."""

from datetime import date

import pytest
from sqlalchemy import select

from app.models import (
    Case,
    CaseDecision,
    DecisionState,
    Disposal,
    Report,
    ReportExclusion,
    ReportReader,
    ReportStatus,
    StaffUser,
)
from app.services.cases import deadlines, decisions, inbox, notes, workflow
from app.services.cases.deadlines import DeadlineRules, Step
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.reports.followup import open_by_code, progress
from app.services.reports.submission import submit
from crypto.errors import NoIdentityMatch
from tests.helpers.case_console import send_report
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, stored_blobs

RULES = DeadlineRules()


def _staff(session, org, name) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


@pytest.fixture
def report_id(db, org, blobs):
    return send_report(db, blobs)


def test_statuses_follow_the_rules_and_each_change_is_audited(db, org, report_id, audit_entries):
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp1")
        with pytest.raises(CaseError, match="status_not_next"):
            workflow.change_status(session, insp, report, ReportStatus.concluded, TODAY, RULES)
        workflow.change_status(session, insp, report, ReportStatus.acknowledged, TODAY, RULES)
        workflow.change_status(session, insp, report, ReportStatus.under_assessment, TODAY, RULES)
        # A disposal is never set by hand: only a decision taken together leads there.
        with pytest.raises(CaseError, match="status_not_next"):
            workflow.change_status(
                session, insp, report, ReportStatus.disposal_decided, TODAY, RULES
            )
    with db() as session:
        assert session.get(Report, report_id).status == ReportStatus.under_assessment
    changes = [e.detail for e in audit_entries if e.action == "status_change"]
    assert changes == ["received -> acknowledged", "acknowledged -> under_assessment"]


def test_a_first_reply_that_acknowledges_the_report_is_an_audited_status_change(
    db, org, blobs, report_id, audit_entries
):
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp1")
        workflow.reply(session, blobs, insp, report, "已收到，正在核实。", [], TODAY)
        workflow.reply(session, blobs, insp, report, "请补充单据。", [], TODAY)
        assert report.status == ReportStatus.acknowledged
    # The auditor sees when and by whom the report was acknowledged, once.
    changes = [(e.actor, e.detail) for e in audit_entries if e.action == "status_change"]
    assert changes == [("mch.insp1", "received -> acknowledged")]


def test_criticism_takes_the_shorter_path(db, org, blobs):
    report_id = send_report(db, blobs, kind="criticism", files=False)
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp2")
        assert workflow.allowed_statuses(report) == (ReportStatus.acknowledged,)
        workflow.change_status(session, insp, report, ReportStatus.acknowledged, TODAY, RULES)
        with pytest.raises(CaseError):
            workflow.change_status(
                session, insp, report, ReportStatus.under_assessment, TODAY, RULES
            )
        workflow.change_status(session, insp, report, ReportStatus.answered, TODAY, RULES)
        assert report.case.next_due is None  # nothing more owed
        assert progress(report, TODAY).steps[-1].done


def test_someone_who_may_not_read_the_case_changes_nothing(db, org, blobs):
    report_id = send_report(db, blobs, excluded=[org.staff["mch.insp2"]])
    with db() as session:
        report = session.get(Report, report_id)
        for name in ("mch.insp2", "grp.insp1", "mch.publisher", "f1.insp"):
            staff = _staff(session, org, name)
            with pytest.raises(CaseNotPermitted):
                workflow.change_status(
                    session, staff, report, ReportStatus.acknowledged, TODAY, RULES
                )
            with pytest.raises(CaseNotPermitted):
                workflow.add_label(session, staff, report, "重点")
        assert report.status == ReportStatus.received


def test_only_a_head_assigns_and_only_to_a_reader(db, org, blobs, audit_entries):
    report_id = send_report(db, blobs, excluded=[org.staff["mch.insp2"]])
    with db() as session:
        report = session.get(Report, report_id)
        head, insp1 = _staff(session, org, "mch.head"), _staff(session, org, "mch.insp1")
        with pytest.raises(CaseNotPermitted):
            workflow.assign(session, insp1, report, insp1.id)
        for outsider in ("mch.insp2", "mch.publisher", "grp.insp1", "mch.gone"):
            with pytest.raises(CaseError, match="assignee_not_reader"):
                workflow.assign(session, head, report, org.staff[outsider])
        assert workflow.assign(session, head, report, insp1.id) is insp1
    with db() as session:
        assert session.get(Case, report_id).assignee_id == org.staff["mch.insp1"]
    entry = [e for e in audit_entries if e.action == "assignment"][-1]
    assert (entry.actor, entry.subject, entry.case_id) == ("mch.head", "mch.insp1", report_id)


def test_labels_are_checked_and_kept_apart_from_the_reporter(db, org, report_id, audit_entries):
    with db() as session:
        report = session.get(Report, report_id)
        insp = _staff(session, org, "mch.insp1")
        assert workflow.add_label(session, insp, report, "  食堂  采购 ") == "食堂 采购"
        workflow.add_label(session, insp, report, "食堂 采购")  # once only
        for bad, key in [
            ("", "label_required"),
            ("长" * 25, "label_too_long"),
            ("a\u202eb", "label_invalid"),
        ]:
            with pytest.raises(CaseError, match=key):
                workflow.add_label(session, insp, report, bad)
        assert [label.name for label in report.case.labels] == ["食堂 采购"]
        assert inbox.readable_labels(session, insp) == ["食堂 采购"]
        assert workflow.remove_label(session, insp, report, "食堂 采购") == "食堂 采购"
    # That a label changed, never its words: they are the case's content, the trail outlives it.
    assert [e.detail for e in audit_entries if e.action == "label"] == ["added", "removed"]
    assert not any("食堂" in (e.detail or "") for e in audit_entries)


def test_notes_open_for_the_readers_only_never_for_the_reporter(db, org, blobs, tmp_path):
    code_report = None
    with db() as session:
        done = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
        code_report = done
    with db() as session:
        report = session.get(Report, code_report.report_id)
        insp = _staff(session, org, "mch.insp1")
        note = notes.add_note(
            session, blobs, insp, report, "王某的岳父是供应商法人，需回避核查。", TODAY
        )
        with pytest.raises(CaseError, match="note_required"):
            notes.add_note(session, blobs, insp, report, "   ", TODAY)
        with pytest.raises(CaseNotPermitted):
            notes.add_note(session, blobs, _staff(session, org, "grp.insp1"), report, "x", TODAY)
        assert note.seq == 1
    with db() as session:
        report = session.get(Report, code_report.report_id)
        shown = notes.read_notes(session, blobs, report, [org.keys["mch.insp2"]])
        assert [(n.text, n.author) for n in shown] == [
            ("王某的岳父是供应商法人，需回避核查。", "机械纪检员 刘洋")
        ]
        reporter = open_by_code(session, PEPPER, code_report.code, PARAMS).identity
        assert [n.text for n in notes.read_notes(session, blobs, report, [reporter])] == [None]
        stored = notes.notes_of(session, report)[0]
        from app.services.reports.envelopes import opened

        with pytest.raises(NoIdentityMatch), opened(blobs, stored, [reporter]):
            pass
        # The recovery key opens it (the office can recover its notes as its reports).
        assert notes.read_notes(session, blobs, report, [org.recovery["MCH"]])[0].text
    needle = "岳父".encode()
    assert not any(needle in data for data in stored_blobs(db.app).values())


def test_a_note_moved_onto_another_case_does_not_open(db, org, blobs):
    first, second = send_report(db, blobs, files=False), send_report(db, blobs, files=False)
    with db() as session:
        insp = _staff(session, org, "mch.insp1")
        one = notes.add_note(session, blobs, insp, session.get(Report, first), "第一件", TODAY)
        two = notes.add_note(session, blobs, insp, session.get(Report, second), "第二件", TODAY)
        one.header, two.header = two.header, one.header
    with db() as session:
        shown = notes.read_notes(
            session, blobs, session.get(Report, first), [org.keys["mch.insp1"]]
        )
        assert shown[0].text is None and shown[0].problem.value == "misplaced"


def test_one_person_alone_never_decides(db, org, report_id, audit_entries):
    with db() as session:
        report = session.get(Report, report_id)
        head, insp = _staff(session, org, "mch.head"), _staff(session, org, "mch.insp1")
        with pytest.raises(CaseError, match="decision_not_now"):
            decisions.propose(session, head, report, Disposal.talk_or_inquiry, TODAY)
        workflow.change_status(session, insp, report, ReportStatus.acknowledged, TODAY, RULES)
        workflow.change_status(session, insp, report, ReportStatus.under_assessment, TODAY, RULES)
        pending = decisions.propose(
            session, head, report, Disposal.preliminary_verification, TODAY
        ).id
        with pytest.raises(CaseError, match="decision_pending"):
            decisions.propose(session, insp, report, Disposal.closed_no_action, TODAY)
        with pytest.raises(CaseError, match="too_few_members"):
            decisions.record(session, head, report, pending, TODAY)
        with pytest.raises(CaseError, match="already_confirmed"):
            decisions.confirm(session, head, report, pending, TODAY)
        with pytest.raises(CaseError, match="confirm_first"):
            decisions.record(session, insp, report, pending, TODAY)
        # Three required by the office's setting: two are not enough.
        decisions.confirm(session, insp, report, pending, TODAY)
        with pytest.raises(CaseError, match="too_few_members"):
            decisions.record(session, insp, report, pending, TODAY, members=3)
        assert report.status == ReportStatus.under_assessment
        decision = decisions.record(session, insp, report, pending, TODAY)
        assert decision.state == DecisionState.recorded
        assert report.status == ReportStatus.disposal_decided
        assert report.case.disposal == Disposal.preliminary_verification
        assert {m.staff_id for m in decision.members} == {head.id, insp.id}
    recorded = [e for e in audit_entries if e.action == "decision" and "decided" in e.detail]
    assert [(e.actor, e.subject) for e in recorded] == [("mch.insp1", "mch.head")]


def test_two_inspectors_without_a_head_do_not_decide(db, org, report_id):
    with db() as session:
        report = session.get(Report, report_id)
        one, two = _staff(session, org, "mch.insp1"), _staff(session, org, "mch.insp2")
        report.status = ReportStatus.under_assessment
        pending = decisions.propose(
            session, one, report, Disposal.shelved_pending_evidence, TODAY
        ).id
        decisions.confirm(session, two, report, pending, TODAY)
        with pytest.raises(CaseError, match="no_head_member"):
            decisions.record(session, two, report, pending, TODAY)
        with pytest.raises(CaseNotPermitted):
            decisions.withdraw(session, two, report, pending)
        decisions.withdraw(session, one, report, pending)
        assert session.scalar(select(CaseDecision.state)) == DecisionState.withdrawn


def test_a_member_kept_out_later_no_longer_counts(db, org, report_id):
    with db() as session:
        report = session.get(Report, report_id)
        head, insp = _staff(session, org, "mch.head"), _staff(session, org, "mch.insp1")
        report.status = ReportStatus.under_assessment
        pending = decisions.propose(session, head, report, Disposal.talk_or_inquiry, TODAY).id
        decisions.confirm(session, insp, report, pending, TODAY)
        session.delete(session.get(ReportReader, (report.id, insp.id)))  # recused since
        session.flush()
        with pytest.raises(CaseError, match="too_few_members"):
            decisions.record(session, head, report, pending, TODAY)


def test_real_name_notices_have_their_working_day_deadlines(db, org, blobs):
    # Received 30 September 2026, the eve of the National Day week.
    received = date(2026, 9, 30)
    report_id = send_report(db, blobs, today=received, files=False, real_name="张三")
    with db() as session:
        report = session.get(Report, report_id)
        case = report.case
        assert case.take_up_notice_by == date(2026, 10, 27)
        assert report.acknowledge_by == date(2026, 10, 8)  # 7 October is a holiday
        assert case.next_due == report.acknowledge_by
        insp = _staff(session, org, "mch.insp1")
        blobs_ = blobs
        workflow.reply(session, blobs_, insp, report, "已收到您的实名举报。", [], date(2026, 10, 8))
        assert report.status == ReportStatus.acknowledged
        assert case.take_up_told_on is None  # acknowledging is not telling it is taken up
        assert case.next_due == date(2026, 10, 27)
        later = date(2026, 10, 28)
        step = {s.step: s for s in deadlines.steps(report, case, later)}
        assert step[Step.take_up_notice].overdue
        workflow.change_status(session, insp, report, ReportStatus.under_assessment, later, RULES)
        workflow.reply(session, blobs_, insp, report, "您的举报已受理，正在核实。", [], later)
        assert case.take_up_told_on == later
        report.status = ReportStatus.disposal_decided
        workflow.change_status(
            session, insp, report, ReportStatus.concluded, date(2026, 12, 1), RULES
        )
        assert case.conclusion_notice_by == date(2026, 12, 22)
        assert case.next_due == date(2026, 12, 22)
        workflow.reply(
            session, blobs_, insp, report, "经核实，问题属实，已处理。", [], date(2026, 12, 2)
        )
        assert case.outcome_told_on == date(2026, 12, 2) and case.next_due is None


def test_the_reporter_sees_the_same_dates(db, org, blobs):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(real_name="李四"), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        shown = progress(report, TODAY)
        assert [(s.step, s.due) for s in shown.steps] == [
            (s.step, s.due) for s in deadlines.steps(report, report.case, TODAY)
        ]
        assert Step.take_up_notice in {s.step for s in shown.steps}


def test_a_reporter_reply_counts_as_new_for_the_readers(db, org, blobs):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        insp = _staff(session, org, "mch.insp1")
        workflow.mark_seen(session, insp, report, TODAY)
        seen = report.case.version
    from app.services.reports.followup import reply

    with db() as session:
        opened = open_by_code(session, PEPPER, done.code, PARAMS)
        reply(session, blobs, opened.report, opened.identity, "补充：还有一张发票。", [], TODAY)
    with db() as session:
        case = session.get(Case, done.report_id)
        assert case.version > seen and case.reporter_version == case.version


def test_excluded_staff_have_no_reader_row(db, org, blobs):
    report_id = send_report(db, blobs, excluded=[org.staff["mch.insp2"]])
    with db() as session:
        assert session.get(ReportExclusion, (report_id, org.staff["mch.insp2"])) is not None
