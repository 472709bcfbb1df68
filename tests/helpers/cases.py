"""A case to work on: a report with files, a real name and a thread, and ways to see who opens
what and whether any payload changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AuditEntry,
    Report,
    ReportEnvelope,
    ReportMessage,
    Role,
    StaffRole,
    StaffUser,
)
from app.services.blobs import BlobStore
from app.services.reports import envelopes
from app.services.reports.followup import reply
from app.services.reports.messages import post_office_message
from app.services.reports.places import of_row
from app.services.reports.submission import submit
from crypto.errors import NoIdentityMatch
from crypto.keys import X25519Identity
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, Org, form, upload_files

REPORT_FILES = [
    ("报销单据（涂改）.jpg", "application/octet-stream", "伪造的报销单据".encode() * 40_000),
    ("会议记录 2026年10月.txt", "text/plain", "十月十二日采购会议记录：王某指定供应商。".encode()),
]
OFFICE_FILES = [("约谈通知.txt", "text/plain", "请于周三上午到纪委办公室。".encode())]
REPORTER_FILES = [("补充材料.txt", "text/plain", "供应商名单：某某食品公司。".encode())]


@dataclass
class Case:
    report_id: str
    reporter: X25519Identity


def make_case(db, blobs: BlobStore, **changes) -> Case:
    """A report about MCH-PUR with two files and a real name, an office message with a file
    from the head, and the reporter's answer with a file."""
    fields = {"real_name": "李四", "contact": "分机 6021", **changes}
    with db() as session:
        done = submit(
            session,
            blobs,
            PEPPER,
            form(**fields),
            upload_files(blobs, REPORT_FILES),
            TODAY,
            PARAMS,
        )
    reporter = derive_receipt(done.code, PEPPER, PARAMS.current_params).identity
    with db() as session:
        report = session.get(Report, done.report_id)
        head = session.scalar(select(StaffUser).where(StaffUser.username == "mch.head"))
        if head is not None and head.office_id == report.office_id:
            uploads = upload_files(blobs, OFFICE_FILES)
            post_office_message(
                session, blobs, report, head, "已受理，请补充材料。", uploads, TODAY
            )
    with db() as session:
        report = session.get(Report, done.report_id)
        uploads = upload_files(blobs, REPORTER_FILES)
        reply(session, blobs, report, reporter, "补充：供应商名单见附件。", uploads, TODAY)
    return Case(done.report_id, reporter)


def add_staff(
    session: Session,
    org: Org,
    username: str,
    display: str,
    office_unit: str,
    roles: tuple[Role, ...] = (Role.inspector,),
    keyed: bool = True,
) -> StaffUser:
    """A colleague who joined after the report arrived (so reads none of it)."""
    identity = X25519Identity.generate()
    office_id = org.offices[office_unit]
    user = StaffUser(
        username=username,
        display_name=display,
        password_hash="!",
        totp_secret="A" * 32,
        office_id=office_id,
        active=True,
        age_recipient=str(identity.recipient) if keyed else None,
    )
    user.role_rows = [StaffRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    org.staff[username] = user.id
    if keyed:
        org.keys[username] = identity
    return user


def case_envelopes(session: Session, report_id: str) -> list[ReportEnvelope]:
    return list(
        session.scalars(
            select(ReportEnvelope)
            .outerjoin(ReportMessage)
            .where(ReportEnvelope.report_id == report_id)
            .order_by(ReportMessage.seq.nulls_first(), ReportEnvelope.role, ReportEnvelope.position)
        )
    )


def opens(blobs: BlobStore, envelope: ReportEnvelope, identity: X25519Identity) -> bool:
    """Whether ``identity`` opens the file, read to its authenticated end."""
    try:
        with envelopes.opened(blobs, envelope, [identity]) as plaintext:
            for _ in plaintext.views():
                pass
    except NoIdentityMatch:
        return False
    return True


def opened_places(session: Session, blobs: BlobStore, report_id: str, identity) -> set[str]:
    """The places (as text: "report ..., text") of the case's files that ``identity`` opens."""
    return {
        str(of_row(envelope))
        for envelope in case_envelopes(session, report_id)
        if opens(blobs, envelope, identity)
    }


def all_places(session: Session, report_id: str) -> set[str]:
    return {str(of_row(envelope)) for envelope in case_envelopes(session, report_id)}


def payload_digests(session: Session, blobs: BlobStore, report_id: str) -> dict[str, str]:
    """Blob key -> SHA-256 of the payload bytes on disk, for every file of the case."""
    digests = {}
    for envelope in case_envelopes(session, report_id):
        with blobs.open(envelope.blob_key) as blob:
            digests[envelope.blob_key] = hashlib.sha256(blob.read()).hexdigest()
    return digests


def audit_lines(session: Session, case_id: str | None = None) -> list[tuple]:
    """The audit trail (of one case): (action, actor, subject, detail), oldest first."""
    query = select(AuditEntry).order_by(AuditEntry.log_index)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    return [
        (e.action, e.actor_username, e.subject_username, e.detail) for e in session.scalars(query)
    ]
