"""A concluded case to purge: a report with files, a real name, a thread, a note, a recusal, a
label, a view and a decision taken together; and how to count what is left of it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from app.models import (
    Case,
    CaseDecision,
    CaseDecisionMember,
    CaseLabel,
    CaseNote,
    CaseRecusal,
    CaseTransfer,
    CaseView,
    Disposal,
    InboxEntry,
    Report,
    ReportEnvelope,
    ReportExclusion,
    ReportMessage,
    ReportReader,
    ReportStatus,
    StaffUser,
)
from app.services import audit
from app.services.cases import access, decisions, notes, workflow
from app.services.cases.deadlines import DeadlineRules
from app.services.reports import followup
from app.services.reports.submission import submit
from crypto.receipts import derive_receipt
from tests.helpers.cases import OFFICE_FILES, REPORT_FILES, REPORTER_FILES
from tests.helpers.reports import PARAMS, PEPPER, form, upload_files

RULES = DeadlineRules()
RECEIVED = date(2026, 7, 6)  # the third quarter of 2026
CONCLUDED = date(2026, 8, 3)
PURGE_DAY = date(2031, 8, 3)  # five years on: the default period
NOTE = "内部备注：王某与供应商某某食品公司有亲属关系，需回避。"
LABEL = "采购线索"


def _staff(session, org, username: str) -> StaffUser:
    return session.get(StaffUser, org.staff[username])


def concluded_case(
    db,
    org,
    blobs,
    *,
    category: str = "procurement_bidding",
    received: date = RECEIVED,
    concluded: date | None = CONCLUDED,
    persons: str = "采购部王某",
    pepper: bytes = PEPPER,
) -> tuple[str, str]:
    """A report about MCH-PUR with files and a real name, the office's answer with a file,
    the reporter's reply with a file, a note, a label, a view, a decision taken together and
    (unless ``concluded`` is None) its conclusion; its id and receipt code."""
    with db() as session:
        done = submit(
            session,
            blobs,
            pepper,
            form(
                real_name="李四",
                contact="分机 6021",
                category=category,
                persons=persons,
                excluded=[org.staff["grp.insp1"]],  # kept with the report, for a transfer up
            ),
            upload_files(blobs, REPORT_FILES),
            received,
            PARAMS,
        )
    reporter = derive_receipt(done.code, pepper, PARAMS.current_params).identity
    with db() as session:
        report = session.get(Report, done.report_id)
        insp = _staff(session, org, "mch.insp1")
        uploads = upload_files(blobs, OFFICE_FILES)
        workflow.reply(
            session, blobs, insp, report, "已受理，请补充材料。", uploads, received + timedelta(2)
        )
    with db() as session:
        report = session.get(Report, done.report_id)
        uploads = upload_files(blobs, REPORTER_FILES)
        followup.reply(
            session,
            blobs,
            report,
            reporter,
            "补充：供应商名单见附件。",
            uploads,
            received + timedelta(3),
        )
    with db() as session:
        report = session.get(Report, done.report_id)
        insp, head = _staff(session, org, "mch.insp1"), _staff(session, org, "mch.head")
        notes.add_note(session, blobs, insp, report, NOTE, received + timedelta(4))
    with db() as session:  # a colleague declares a conflict of interest
        report = session.get(Report, done.report_id)
        other = _staff(session, org, "mch.insp2")
        access.recuse(session, report, [org.keys["mch.insp2"]], other, received + timedelta(4))
    with db() as session:
        report = session.get(Report, done.report_id)
        insp, head = _staff(session, org, "mch.insp1"), _staff(session, org, "mch.head")
        workflow.add_label(session, insp, report, LABEL)
        workflow.mark_seen(session, insp, report, received + timedelta(4))
        workflow.change_status(
            session, insp, report, ReportStatus.under_assessment, received + timedelta(5), RULES
        )
        decision = decisions.propose(
            session, insp, report, Disposal.preliminary_verification, received + timedelta(10)
        )
        decisions.confirm(session, head, report, decision.id, received + timedelta(10))
        decisions.record(session, head, report, decision.id, received + timedelta(10))
        if concluded is not None:
            workflow.change_status(session, head, report, ReportStatus.concluded, concluded, RULES)
    return done.report_id, done.code


def rows_of(db, report_id: str) -> dict[str, int]:
    with db() as session:
        counted = {}
        for model, column in (
            (Report, Report.id),
            (Case, Case.report_id),
            (ReportEnvelope, ReportEnvelope.report_id),
            (ReportMessage, ReportMessage.report_id),
            (ReportReader, ReportReader.report_id),
            (ReportExclusion, ReportExclusion.report_id),
            (CaseNote, CaseNote.report_id),
            (CaseLabel, CaseLabel.report_id),
            (CaseView, CaseView.report_id),
            (CaseDecision, CaseDecision.report_id),
            (InboxEntry, InboxEntry.report_id),
            (CaseRecusal, CaseRecusal.report_id),
            (CaseTransfer, CaseTransfer.report_id),
        ):
            counted[model.__tablename__] = session.scalar(
                select(func.count()).select_from(model).where(column == report_id)
            )
        counted["case_decision_members"] = session.scalar(
            select(func.count())
            .select_from(CaseDecisionMember)
            .join(CaseDecision)
            .where(CaseDecision.report_id == report_id)
        )
    return counted


def verify_audit(db) -> None:
    keys = db.app.extensions["portal.audit_log"]
    with db() as session:
        audit.sign_checkpoint(session, keys.signer, keys.origin, PURGE_DAY)
    with db() as session:
        result = audit.verify(session, keys.verifier(), keys.origin)
        assert result.ok, result.problems
