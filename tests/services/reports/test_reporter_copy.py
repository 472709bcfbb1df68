"""The reporter's own copy: a report's text and files encrypted to the receipt's key as well,
when the reporter keeps the form's tick, so that the code alone shows what was sent; never the
real name; and no rewrite of a header takes the reporter's key away from what it was given."""

from __future__ import annotations

import pytest

from app.models import EnvelopeRole, Report, StaffUser
from app.services.reports import envelopes, followup
from app.services.reports.errors import NotAllowed, ReportInvalid
from app.services.reports.messages import post_office_message
from app.services.reports.reading import read_report
from app.services.reports.submission import submit
from crypto.errors import NoIdentityMatch
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files

WHAT = "车间主任王某把劳保经费挪作他用，金额约三万元。"
FILES = [
    ("劳保经费支出明细（2026年）.txt", "text/plain", "十月：购物卡 30000 元".encode()),
    ("说明.txt", "text/plain", "请核对财务凭证。".encode()),
]


def _send(db, blobs, copy: bool, **changes):
    with db() as session:
        uploads = upload_files(blobs, FILES)
        fields = form(what=WHAT, reporter_copy=copy, **changes)
        return submit(session, blobs, PEPPER, fields, uploads, TODAY, PARAMS)


def _rows(report: Report, role: EnvelopeRole):
    return [e for e in report.envelopes if e.role == role and e.message_id is None]


def test_the_code_alone_opens_the_report_as_it_was_sent(db, org, blobs):
    sent = _send(db, blobs, True)
    with db() as session:
        opened = followup.open_by_code(session, PEPPER, sent.code, PARAMS)
        assert opened is not None and opened.report.reporter_copy
        own = followup.own_report(blobs, opened.report, opened.identity)
        assert own is not None
        assert own.fields["what"] == WHAT
        assert own.fields["persons"] == "采购部副部长 王某"
        assert own.fields["unit_code"] == "MCH-PUR"
        assert [f.info.name for f in own.attachments] == [name for name, _t, _d in FILES]
        assert all(f.problem is None for f in own.attachments)
        # Each file opens with the reporter's key, and its name comes from the report.
        for listed, (name, _type, data) in zip(own.attachments, FILES, strict=True):
            row = next(e for e in opened.report.envelopes if e.id == listed.envelope_id)
            assert envelopes.read_bytes(blobs, row, [opened.identity], 10**6) == data
            assert followup.attachment_name(blobs, opened.report, opened.identity, row) == name


def test_unticked_the_reporter_s_key_opens_none_of_the_report(db, org, blobs):
    sent = _send(db, blobs, False)
    with db() as session:
        opened = followup.open_by_code(session, PEPPER, sent.code, PARAMS)
        report = opened.report
        assert not report.reporter_copy
        assert followup.own_report(blobs, report, opened.identity) is None
        # Not merely not shown: not encrypted to that key. Whoever guesses or steals the code
        # gets the reporter's key, which opens no file of the report itself.
        with pytest.raises(NotAllowed):
            read_report(blobs, report, [opened.identity])
        for row in [*_rows(report, EnvelopeRole.text), *_rows(report, EnvelopeRole.attachment)]:
            with pytest.raises(NoIdentityMatch):
                envelopes.read_bytes(blobs, row, [opened.identity], 10**6)
            row_name = followup.attachment_name(blobs, report, opened.identity, row)
            assert row_name is None
        # The office reads it as ever.
        assert read_report(blobs, report, [org.keys["mch.insp1"]]).fields["what"] == WHAT


def test_the_real_name_is_never_encrypted_to_the_reporter(db, org, blobs):
    sent = _send(db, blobs, True, real_name="张三", contact="手机 139 0000 0000")
    with db() as session:
        opened = followup.open_by_code(session, PEPPER, sent.code, PARAMS)
        (identity_row,) = _rows(opened.report, EnvelopeRole.identity)
        with pytest.raises(NoIdentityMatch):
            envelopes.read_bytes(blobs, identity_row, [opened.identity], 10**6)
        own = followup.own_report(blobs, opened.report, opened.identity)
        assert "张三" not in repr(own.fields) and "139" not in repr(own.fields)
        assert "张三".encode() in envelopes.read_bytes(
            blobs, identity_row, [org.keys["mch.head"]], 10**6
        )
        # A rewrite handed the reporter's key for the real name leaves it out all the same.
        reporter = opened.identity.recipient
        envelopes.rewrap_envelope(
            identity_row, [org.keys["mch.head"]], [org.keys["mch.head"].recipient, reporter]
        )
        with pytest.raises(NoIdentityMatch):
            envelopes.read_bytes(blobs, identity_row, [opened.identity], 10**6)
        assert "张三".encode() in envelopes.read_bytes(
            blobs, identity_row, [org.keys["mch.head"]], 10**6
        )


def test_a_rewrite_of_the_headers_keeps_the_reporter_where_the_reporter_reads(db, org, blobs):
    kept, unkept = _send(db, blobs, True), _send(db, blobs, False)
    granted = org.keys["grp.insp1"]
    with db() as session:
        report = session.get(Report, kept.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        post_office_message(session, blobs, report, inspector, "请补充发票。", [], TODAY)
        session.commit()
    for sent, reporter_reads in ((kept, True), (unkept, False)):
        identity = derive_receipt(sent.code, PEPPER, PARAMS.current_params).identity
        with db() as session:
            report = session.get(Report, sent.report_id)
            # A grant as a colleague would make it: the office's keys only, the reporter's
            # left out of the list (or, for the report without a copy, slipped in).
            office = [org.keys["mch.insp1"].recipient, granted.recipient]
            if not reporter_reads:
                office.append(identity.recipient)
            for row in report.envelopes:
                if row.role != EnvelopeRole.identity:
                    envelopes.rewrap_envelope(row, [org.keys["mch.insp1"]], office)
            session.commit()
        with db() as session:
            report = session.get(Report, sent.report_id)
            assert read_report(blobs, report, [granted]).fields["what"] == WHAT
            for row in _rows(report, EnvelopeRole.text) + _rows(report, EnvelopeRole.attachment):
                if reporter_reads:
                    assert envelopes.read_bytes(blobs, row, [identity], 10**6)
                else:
                    with pytest.raises(NoIdentityMatch):
                        envelopes.read_bytes(blobs, row, [identity], 10**6)
            if reporter_reads:  # and the thread stays the reporter's
                (message,) = followup.thread(session, blobs, report, identity)
                assert message.text == "请补充发票。"
                assert followup.own_report(blobs, report, identity).fields["what"] == WHAT
            # The inspector left out of the new headers (a recusal) reads nothing now.
            with pytest.raises(NotAllowed):
                read_report(blobs, report, [org.keys["mch.insp2"]])


@pytest.mark.parametrize("value", ["true", 1, None])
def test_the_choice_is_a_yes_or_no(db, org, blobs, value):
    with db() as session, pytest.raises(ReportInvalid) as refused:
        submit(session, blobs, PEPPER, form(reporter_copy=value), [], TODAY, PARAMS)
    assert refused.value.errors == {"reporter_copy": "invalid"}
    assert list(blobs.keys()) == []
