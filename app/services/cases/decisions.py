"""Disposal decisions, taken together: one member proposes a disposal (and confirms it), others
confirm it, each in their own console session, and it is recorded only once at least
``members`` (two by default) have confirmed, among them an office head. One person alone can
never decide: a second confirmation by the same person is refused, and so is recording with
too few.

Each step names the decision it is about (the id shown on the page the member read): a
decision withdrawn and replaced meanwhile is never confirmed, recorded or withdrawn by a click
meant for the one before. Each step first claims the case (``claim_case``), so two at once are
taken one after the other and the second sees what the first did: never two pending decisions,
never the same member twice.

Members are the case's readers (inspectors and heads of its office). A recorded decision sets
the case's disposal and moves it to ``disposal_decided``; every step is on the audit trail.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    CaseDecision,
    CaseDecisionMember,
    DecisionState,
    Disposal,
    Report,
    ReportKind,
    ReportStatus,
    Role,
    StaffUser,
)
from app.services.cases import deadlines, trail
from app.services.cases.changes import claim_case, touch
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.cases.readers import readable_case
from app.services.cases.workflow import case_of

DEFAULT_MEMBERS = 2


def pending_decision(session: Session, report: Report) -> CaseDecision | None:
    return session.scalar(
        select(CaseDecision).where(
            CaseDecision.report_id == report.id, CaseDecision.state == DecisionState.pending
        )
    )


def _member(session: Session, staff: StaffUser, report: Report) -> None:
    if readable_case(session, staff, report.id) is None:
        raise CaseNotPermitted("not_a_reader")
    claim_case(session, report)


def _the_pending(session: Session, report: Report, decision_id: object) -> CaseDecision:
    """The pending decision, if it is the one ``decision_id`` names (the one the member saw)."""
    decision = session.scalar(
        select(CaseDecision)
        .where(CaseDecision.report_id == report.id, CaseDecision.state == DecisionState.pending)
        .execution_options(populate_existing=True)
    )
    if decision is None:
        raise CaseError("no_pending_decision")
    if not isinstance(decision_id, str) or decision.id != decision_id:
        raise CaseError("decision_changed")
    session.expire(decision, ["members"])
    return decision


def propose(
    session: Session, staff: StaffUser, report: Report, disposal: Disposal, today: date
) -> CaseDecision:
    """Propose ``disposal`` for a case under assessment; the proposer is its first member."""
    _member(session, staff, report)
    if report.kind != ReportKind.misconduct or report.status != ReportStatus.under_assessment:
        raise CaseError("decision_not_now")
    if pending_decision(session, report) is not None:
        raise CaseError("decision_pending")
    decision = CaseDecision(
        report_id=report.id,
        disposal=disposal,
        state=DecisionState.pending,
        proposed_by=staff.id,
        proposed_on=today,
    )
    decision.members.append(CaseDecisionMember(staff_id=staff.id, confirmed_on=today))
    session.add(decision)
    touch(session, report.id)
    trail.record(
        session, "decision", actor=staff, case_id=report.id, detail=f"proposed {disposal.value}"
    )
    session.flush()
    return decision


def confirm(
    session: Session, staff: StaffUser, report: Report, decision_id: str, today: date
) -> CaseDecision:
    """``staff`` (signed in, in their own session) confirms the pending decision
    ``decision_id``; CaseError("decision_changed") when another one is pending now."""
    _member(session, staff, report)
    decision = _the_pending(session, report, decision_id)
    if any(m.staff_id == staff.id for m in decision.members):
        raise CaseError("already_confirmed")
    decision.members.append(CaseDecisionMember(staff_id=staff.id, confirmed_on=today))
    touch(session, report.id)
    trail.record(
        session,
        "decision",
        actor=staff,
        case_id=report.id,
        subject=decision.proposer,
        detail=f"confirmed {decision.disposal.value}",
    )
    session.flush()
    return decision


def record(
    session: Session,
    staff: StaffUser,
    report: Report,
    decision_id: str,
    today: date,
    members: int = DEFAULT_MEMBERS,
) -> CaseDecision:
    """Record the pending decision ``decision_id`` as the case's disposal, by one of its members.

    CaseError("too_few_members") while fewer than ``members`` confirmed it (one person alone
    never decides); ("no_head_member") when no office head is among them."""
    _member(session, staff, report)
    decision = _the_pending(session, report, decision_id)
    confirmed = {m.staff_id: m.staff for m in decision.members}
    if staff.id not in confirmed:
        raise CaseError("confirm_first")
    if len(confirmed) < max(members, DEFAULT_MEMBERS):
        raise CaseError("too_few_members")
    # Members who left, lost the case or were kept out since do not count.
    still = {i: s for i, s in confirmed.items() if readable_case(session, s, report.id)}
    if len(still) < max(members, DEFAULT_MEMBERS):
        raise CaseError("too_few_members")
    if not any(s.has_role(Role.office_head) for s in still.values()):
        raise CaseError("no_head_member")
    if report.status != ReportStatus.under_assessment:
        raise CaseError("decision_not_now")
    decision.state = DecisionState.recorded
    decision.recorded_on = today
    case = case_of(report)
    case.disposal = decision.disposal
    report.status = ReportStatus.disposal_decided
    deadlines.refresh(report, case)
    touch(session, report.id)
    for member in still.values():
        if member.id != staff.id:
            trail.record(
                session,
                "decision",
                actor=staff,
                case_id=report.id,
                subject=member,
                detail=f"decided {decision.disposal.value} by {len(still)} members",
            )
    session.flush()
    return decision


def withdraw(session: Session, staff: StaffUser, report: Report, decision_id: str) -> CaseDecision:
    """Withdraw the pending decision ``decision_id``: its proposer, or an office head of the
    case."""
    _member(session, staff, report)
    decision = _the_pending(session, report, decision_id)
    if decision.proposed_by != staff.id and not staff.has_role(Role.office_head):
        raise CaseNotPermitted("proposer_or_head")
    decision.state = DecisionState.withdrawn
    touch(session, report.id)
    trail.record(
        session,
        "decision",
        actor=staff,
        case_id=report.id,
        detail=f"withdrew {decision.disposal.value}",
    )
    session.flush()
    return decision


def waiting_for(session: Session, staff: StaffUser, limit: int = 20) -> list[CaseDecision]:
    """Pending decisions on cases ``staff`` may see that ``staff`` has not confirmed yet."""
    from app.services.cases.readers import can_read_clause

    confirmed = select(CaseDecisionMember.decision_id).where(
        CaseDecisionMember.staff_id == staff.id
    )
    return list(
        session.scalars(
            select(CaseDecision)
            .join(Report, Report.id == CaseDecision.report_id)
            .where(
                CaseDecision.state == DecisionState.pending,
                CaseDecision.id.not_in(confirmed),
                can_read_clause(staff),
            )
            .order_by(CaseDecision.proposed_on, CaseDecision.id)
            .limit(limit)
        )
    )
