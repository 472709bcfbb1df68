"""Office messages: only a report's readers write them; they reach the reporter and the office."""

from __future__ import annotations

import pytest

from app.models import (
    EnvelopeRole,
    MessageAuthor,
    Report,
    ReportMessage,
    ReportReader,
    ReportStatus,
    StaffUser,
)
from app.services.reports import envelopes
from app.services.reports.contents import decode
from app.services.reports.errors import ChannelUnavailable, NotAllowed
from app.services.reports.followup import reply
from app.services.reports.fsck import fsck
from app.services.reports.messages import office_recipients, post_office_message
from app.services.reports.submission import submit
from crypto.errors import NoIdentityMatch
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files


@pytest.fixture
def submitted(db, org, blobs):
    with db() as session:
        return submit(
            session, blobs, PEPPER, form(excluded=[org.staff["mch.insp2"]]), [], TODAY, PARAMS
        )


def _text_of(blobs, message: ReportMessage, identity) -> str:
    (envelope,) = [e for e in message.envelopes if e.role == EnvelopeRole.text]
    data = envelopes.read_bytes(blobs, envelope, [identity], 10**6)
    return decode(data, "message")["text"]


def test_an_office_message_reaches_readers_recovery_and_reporter(db, org, blobs, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        head = session.get(StaffUser, org.staff["mch.head"])
        files = [("约谈通知.txt", "text/plain", "请于周三到纪委办公室。".encode())]
        message = post_office_message(
            session, blobs, report, head, "您反映的问题已受理。", upload_files(blobs, files), TODAY
        )
        assert (message.seq, message.author, message.created_on) == (
            1,
            MessageAuthor.office,
            TODAY,
        )
        assert report.status == ReportStatus.acknowledged
        message_id = message.id
    reporter = derive_receipt(submitted.code, PEPPER, PARAMS.current_params).identity
    with db() as session:
        message = session.get(ReportMessage, message_id)
        for identity in (
            org.keys["mch.insp1"],
            org.keys["mch.head"],
            org.recovery["MCH"],
            reporter,
        ):
            assert _text_of(blobs, message, identity) == "您反映的问题已受理。"
        # The excluded inspector is no reader, so not a recipient of the thread either.
        with pytest.raises(NoIdentityMatch):
            _text_of(blobs, message, org.keys["mch.insp2"])
        (attachment,) = [e for e in message.envelopes if e.role == EnvelopeRole.attachment]
        data = envelopes.read_bytes(blobs, attachment, [reporter], 999)
        assert data == "请于周三到纪委办公室。".encode()


def test_a_second_message_takes_the_next_place_and_keeps_the_status(db, org, blobs, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        report.status = ReportStatus.under_assessment
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        first = post_office_message(session, blobs, report, inspector, "第一条", [], TODAY)
        second = post_office_message(session, blobs, report, inspector, "第二条", [], TODAY)
        assert (first.seq, second.seq) == (1, 2)
        assert report.status == ReportStatus.under_assessment


@pytest.mark.parametrize("who", ["mch.insp2", "grp.insp1", "mch.publisher", "mch.gone"])
def test_only_an_active_reader_may_write(db, org, blobs, submitted, who):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        user = session.get(StaffUser, org.staff[who])
        uploads = upload_files(blobs, [("x.txt", "text/plain", b"x")])
        with pytest.raises(NotAllowed):
            post_office_message(session, blobs, report, user, "越权消息", uploads, TODAY)
    assert len(list(blobs.keys())) == 1  # the report's text only: the upload is gone


def test_a_reader_who_left_is_not_written_to(db, org, blobs, submitted):
    with db() as session:
        session.get(StaffUser, org.staff["mch.insp1"]).active = False
    with db() as session:
        report = session.get(Report, submitted.report_id)
        keys = office_recipients(session, report)
        assert org.keys["mch.insp1"].recipient not in keys
        assert keys[-1] == org.recovery["MCH"].recipient and len(keys) == 2


def test_a_kept_out_inspector_made_a_reader_in_the_database_reads_nothing(
    db, org, blobs, submitted
):
    # Whoever can write the database adds the inspector the reporter kept out to the readers.
    kept_out = org.staff["mch.insp2"]
    with db() as session:
        session.add(
            ReportReader(report_id=submitted.report_id, staff_id=kept_out, role="inspector")
        )
    reporter = derive_receipt(submitted.code, PEPPER, PARAMS.current_params).identity
    with db() as session:
        report = session.get(Report, submitted.report_id)
        assert org.keys["mch.insp2"].recipient not in office_recipients(session, report)
        message_id = reply(
            session, blobs, report, reporter, "补充材料：报销单据有涂改。", [], TODAY
        ).id
    with db() as session:
        message = session.get(ReportMessage, message_id)
        assert _text_of(blobs, message, org.keys["mch.insp1"]) == "补充材料：报销单据有涂改。"
        with pytest.raises(NoIdentityMatch):
            _text_of(blobs, message, org.keys["mch.insp2"])
        # Nor may they write to the reporter.
        with pytest.raises(NotAllowed):
            post_office_message(
                session,
                blobs,
                message.report,
                session.get(StaffUser, kept_out),
                "越权消息",
                [],
                TODAY,
            )
    with db() as session:
        # And the store check names the row.
        result = fsck(session, blobs, delete_orphans=False)
        assert result.excluded_readers == [(submitted.report_id, kept_out)] and not result.ok


def test_with_no_reader_and_no_recovery_key_nothing_is_written(db, org, blobs, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        report.office.recovery_recipient = None
        for name in ("mch.insp1", "mch.head"):
            session.get(StaffUser, org.staff[name]).active = False
    with db() as session, pytest.raises(ChannelUnavailable):
        office_recipients(session, session.get(Report, submitted.report_id))
