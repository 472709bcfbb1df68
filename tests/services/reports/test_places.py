"""Every file of a report names its place (report, role, message, position) in its header, and
is opened only there: files moved or swapped by whoever writes the database are refused, to
staff and reporter alike, and ``portal reports fsck`` names them."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from app.models import EnvelopeRole, Report, ReportEnvelope, ReportMessage, StaffUser
from app.services.reports import envelopes, places
from app.services.reports.errors import FileDamaged, FileProblem
from app.services.reports.followup import reply, thread
from app.services.reports.fsck import fsck
from app.services.reports.messages import post_office_message, read_thread
from app.services.reports.places import PLACE_TYPE, Misplaced, Place
from app.services.reports.reading import read_document, read_report
from app.services.reports.submission import submit
from crypto.age import make_header, new_file_key, rewrap_header
from crypto.format import Stanza, parse_header
from crypto.keys import X25519Identity
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files

WHAT_A = "甲：采购部王某在食堂食材招标中指定供应商，收受回扣约五万元。"
WHAT_B = "乙：车队队长李某长期公车私用，周末驾驶公车接送家属。"
OFFICE_TEXT = "您反映的问题已受理，请补充相关票据。"
REPLY_TEXT = "票据照片见附件，共两张。"


@dataclass
class Sent:
    report_id: str
    reporter: X25519Identity


def _send(db, blobs, what: str, files: list[tuple[str, str, bytes]], **changes) -> Sent:
    uploads = upload_files(blobs, files)
    with db() as session:
        done = submit(session, blobs, PEPPER, form(what=what, **changes), uploads, TODAY, PARAMS)
    return Sent(done.report_id, derive_receipt(done.code, PEPPER, PARAMS.current_params).identity)


def _office_message(db, blobs, org, sent: Sent, words: str, files=()) -> None:
    with db() as session:
        report = session.get(Report, sent.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        uploads = upload_files(blobs, list(files))
        post_office_message(session, blobs, report, inspector, words, uploads, TODAY)


def _reply(db, blobs, sent: Sent, words: str, files=()) -> None:
    with db() as session:
        report = session.get(Report, sent.report_id)
        uploads = upload_files(blobs, list(files))
        reply(session, blobs, report, sent.reporter, words, uploads, TODAY)


def _rows(db, report_id: str, role: EnvelopeRole, seq: int = 0) -> list[tuple[str, int]]:
    """(envelope id, position) of a report's files of ``role`` (of message ``seq``, or its own)."""
    with db() as session:
        report = session.get(Report, report_id)
        return sorted(
            (
                (e.id, e.position)
                for e in report.envelopes
                if e.role == role and (e.message.seq if e.message else 0) == seq
            ),
            key=lambda row: row[1],
        )


def _message_id(db, report_id: str, seq: int) -> str:
    with db() as session:
        return next(m.id for m in session.get(Report, report_id).messages if m.seq == seq)


def _sql(db, statement: str, **values) -> None:
    """What whoever runs the database can do: change rows behind the application's back."""
    with db() as session:
        session.execute(text(statement), values)


def _swap_envelopes(db, first: str, second: str) -> None:
    """Swap where two files are: their report, message and position (the blobs stay)."""
    with db() as session:
        one, two = session.get(ReportEnvelope, first), session.get(ReportEnvelope, second)
        places_of = [(e.report_id, e.message_id, e.position) for e in (one, two)]
    for envelope_id, (report_id, message_id, position) in zip(
        (first, second), reversed(places_of), strict=True
    ):
        _sql(
            db,
            "UPDATE report_envelopes SET report_id = :r, message_id = :m, position = :p "
            "WHERE id = :id",
            r=report_id,
            m=message_id,
            p=position,
            id=envelope_id,
        )


def _staff(org) -> list[X25519Identity]:
    return [org.keys["mch.insp1"]]


def _check_fsck(db, blobs, org, expected: set[tuple[str, str, str]]) -> list[str]:
    """fsck finds exactly ``expected`` (envelope id, report found at, report named), with and
    without keys; the command names them and fails. Returns the command's lines."""
    with db() as session:
        for identities in ([], [org.recovery["MCH"]]):
            result = fsck(session, blobs, identities, delete_orphans=False, min_age=0)
            assert not result.ok
            found = {
                (m.envelope_id, m.at.report_id, getattr(m.names, "report_id", ""))
                for m in result.misplaced
            }
            assert found == expected
    outcome = db.app.test_cli_runner().invoke(args=["reports", "fsck", "--dry-run"])
    assert outcome.exit_code == 1 and "FAILED" in outcome.output
    lines = [line for line in outcome.output.splitlines() if line.startswith("MISPLACED")]
    assert len(lines) == len(expected)
    for envelope_id, at, named in expected:
        assert any(envelope_id in line and at in line and named in line for line in lines)
    for words in (WHAT_A, WHAT_B, OFFICE_TEXT, REPLY_TEXT, "王某", "李某", "票据"):
        assert words not in outcome.output  # places and ids only, never a word of a file
    return lines


def test_every_file_names_the_place_its_row_gives_it(db, org, blobs):
    sent = _send(
        db, blobs, WHAT_A, [("现场照片.txt", "text/plain", "照片".encode())], real_name="张三"
    )
    _office_message(db, blobs, org, sent, OFFICE_TEXT, [("通知.txt", "text/plain", b"1")])
    _reply(
        db,
        blobs,
        sent,
        REPLY_TEXT,
        [("票据一.txt", "text/plain", b"1"), ("票据二.txt", "text/plain", b"2")],
    )
    with db() as session:
        rows = session.get(Report, sent.report_id).envelopes
        named = {places.named_in(e.header) for e in rows}
        assert named == {places.of_row(e) for e in rows}
        assert named == {
            Place(sent.report_id, EnvelopeRole.text),
            Place(sent.report_id, EnvelopeRole.attachment),
            Place(sent.report_id, EnvelopeRole.identity),
            Place(sent.report_id, EnvelopeRole.text, 1),
            Place(sent.report_id, EnvelopeRole.attachment, 1),
            Place(sent.report_id, EnvelopeRole.text, 2),
            Place(sent.report_id, EnvelopeRole.attachment, 2, 0),
            Place(sent.report_id, EnvelopeRole.attachment, 2, 1),
        }
        label = parse_header(io.BytesIO(rows[0].header)).stanzas[0]
        assert label.type == PLACE_TYPE and label.args[0] == "1"  # the label's version
        shown = read_report(blobs, session.get(Report, sent.report_id), _staff(org))
        assert shown.fields["what"] == WHAT_A
        assert [(f.info.name, f.problem) for f in shown.attachments] == [("现场照片.txt", None)]
    with db() as session:
        result = fsck(session, blobs, [org.recovery["MCH"]], delete_orphans=False, min_age=0)
    assert result.ok and result.opened == 8


def test_a_report_moved_onto_another_report_s_row_is_refused_to_staff_and_named_by_fsck(
    db, org, blobs
):
    a = _send(db, blobs, WHAT_A, [], real_name="张三", contact="13800000000")
    b = _send(db, blobs, WHAT_B, [], persons="车队队长 李某")
    (a_text, _), (b_text, _) = (
        _rows(db, a.report_id, EnvelopeRole.text)[0],
        _rows(db, b.report_id, EnvelopeRole.text)[0],
    )
    (a_name, _) = _rows(db, a.report_id, EnvelopeRole.identity)[0]
    # Header and payload of A's text onto B's row and B's onto A's; A's real name onto B.
    _swap_envelopes(db, a_text, b_text)
    _sql(db, "UPDATE report_envelopes SET report_id = :r WHERE id = :id", r=b.report_id, id=a_name)
    with db() as session:
        for report_id, other in ((b.report_id, a.report_id), (a.report_id, b.report_id)):
            with pytest.raises(Misplaced) as refused:
                read_report(blobs, session.get(Report, report_id), _staff(org))
            assert refused.value.message_key == "misplaced"
            assert refused.value.at == Place(report_id, EnvelopeRole.text)
            assert refused.value.names == Place(other, EnvelopeRole.text)
            assert WHAT_A not in str(refused.value) and WHAT_B not in str(refused.value)
        moved_name = session.get(ReportEnvelope, a_name)
        with pytest.raises(Misplaced):
            envelopes.read_bytes(blobs, moved_name, [org.keys["mch.head"]], 10**6)
    _check_fsck(
        db,
        blobs,
        org,
        {
            (a_text, b.report_id, a.report_id),
            (b_text, a.report_id, b.report_id),
            (a_name, b.report_id, a.report_id),
        },
    )


def test_two_messages_swapped_within_a_report_are_refused_to_reporter_and_staff(db, org, blobs):
    sent = _send(db, blobs, WHAT_A, [])
    _office_message(db, blobs, org, sent, OFFICE_TEXT)
    _reply(db, blobs, sent, REPLY_TEXT)
    (first, _), (second, _) = (
        _rows(db, sent.report_id, EnvelopeRole.text, 1)[0],
        _rows(db, sent.report_id, EnvelopeRole.text, 2)[0],
    )
    _swap_envelopes(db, first, second)
    with db() as session:
        report = session.get(Report, sent.report_id)
        for shown in (
            thread(session, blobs, report, sent.reporter),
            read_thread(blobs, report, _staff(org)),
        ):
            assert [(m.seq, m.text, m.problem) for m in shown] == [
                (1, None, FileProblem.misplaced),
                (2, None, FileProblem.misplaced),
            ]
    _check_fsck(
        db,
        blobs,
        org,
        {(first, sent.report_id, sent.report_id), (second, sent.report_id, sent.report_id)},
    )


def test_two_messages_renumbered_are_refused(db, org, blobs):
    sent = _send(db, blobs, WHAT_A, [])
    _office_message(db, blobs, org, sent, OFFICE_TEXT)
    _reply(db, blobs, sent, REPLY_TEXT)
    one, two = _message_id(db, sent.report_id, 1), _message_id(db, sent.report_id, 2)
    # The thread's order is the messages' numbers: swapped, the reply would come first.
    _sql(db, "UPDATE report_messages SET seq = 99 WHERE id = :id", id=one)
    _sql(db, "UPDATE report_messages SET seq = 1 WHERE id = :id", id=two)
    _sql(db, "UPDATE report_messages SET seq = 2 WHERE id = :id", id=one)
    with db() as session:
        shown = thread(session, blobs, session.get(Report, sent.report_id), sent.reporter)
        assert [(m.text, m.problem) for m in shown] == [(None, FileProblem.misplaced)] * 2


def test_an_attachment_moved_to_another_report_is_refused(db, org, blobs):
    a = _send(db, blobs, WHAT_A, [("甲-回扣账本.txt", "text/plain", "账本".encode())])
    b = _send(db, blobs, WHAT_B, [("乙-行车记录.txt", "text/plain", "记录".encode())])
    (a_file, _), (b_file, _) = (
        _rows(db, a.report_id, EnvelopeRole.attachment)[0],
        _rows(db, b.report_id, EnvelopeRole.attachment)[0],
    )
    _swap_envelopes(db, a_file, b_file)
    with db() as session:
        report = session.get(Report, b.report_id)
        shown = read_report(blobs, report, _staff(org))
        assert shown.fields["what"] == WHAT_B  # the text is where it belongs
        assert [(f.info.name, f.envelope_id, f.problem) for f in shown.attachments] == [
            ("乙-行车记录.txt", a_file, FileProblem.misplaced)
        ]
        with pytest.raises(Misplaced):
            envelopes.read_bytes(blobs, session.get(ReportEnvelope, a_file), _staff(org), 10**6)
    _check_fsck(
        db, blobs, org, {(a_file, b.report_id, a.report_id), (b_file, a.report_id, b.report_id)}
    )


def test_a_message_s_attachment_moved_to_another_report_is_refused_to_its_reporter(db, org, blobs):
    a = _send(db, blobs, WHAT_A, [])
    b = _send(db, blobs, WHAT_B, [])
    _office_message(db, blobs, org, a, OFFICE_TEXT, [("甲-约谈通知.txt", "text/plain", b"A")])
    _office_message(db, blobs, org, b, OFFICE_TEXT, [("乙-约谈通知.txt", "text/plain", b"B")])
    (a_file, _), (b_file, _) = (
        _rows(db, a.report_id, EnvelopeRole.attachment, 1)[0],
        _rows(db, b.report_id, EnvelopeRole.attachment, 1)[0],
    )
    _swap_envelopes(db, a_file, b_file)
    with db() as session:
        report = session.get(Report, b.report_id)
        (message,) = thread(session, blobs, report, b.reporter)
        assert message.text == OFFICE_TEXT and message.problem is None
        assert [(f.info.name, f.problem) for f in message.attachments] == [
            ("乙-约谈通知.txt", FileProblem.misplaced)
        ]
        with pytest.raises(Misplaced):
            envelopes.read_bytes(blobs, session.get(ReportEnvelope, a_file), [b.reporter], 10**6)


def test_attachments_swapped_in_position_are_refused(db, org, blobs):
    files = [
        ("会议纪要.txt", "text/plain", "纪要".encode()),
        ("转账记录.txt", "text/plain", "转账".encode()),
    ]
    sent = _send(db, blobs, WHAT_A, files)
    _reply(db, blobs, sent, REPLY_TEXT, files)
    for seq in (0, 1):
        (first, _), (second, _) = _rows(db, sent.report_id, EnvelopeRole.attachment, seq)
        _sql(db, "UPDATE report_envelopes SET position = 1 WHERE id = :id", id=first)
        _sql(db, "UPDATE report_envelopes SET position = 0 WHERE id = :id", id=second)
    with db() as session:
        report = session.get(Report, sent.report_id)
        shown = read_report(blobs, report, _staff(org))
        assert [(f.info.name, f.problem) for f in shown.attachments] == [
            ("会议纪要.txt", FileProblem.misplaced),
            ("转账记录.txt", FileProblem.misplaced),
        ]
        (message,) = thread(session, blobs, report, sent.reporter)
        assert message.text == REPLY_TEXT
        assert [f.problem for f in message.attachments] == [FileProblem.misplaced] * 2
        for listed in message.attachments:
            with pytest.raises(Misplaced) as refused:
                envelopes.read_bytes(
                    blobs, session.get(ReportEnvelope, listed.envelope_id), [sent.reporter], 10**6
                )
            assert refused.value.at.position != refused.value.names.position


def test_a_label_rewritten_to_fit_its_new_place_breaks_the_header_mac(db, org, blobs):
    a = _send(db, blobs, WHAT_A, [])
    b = _send(db, blobs, WHAT_B, [])
    _office_message(db, blobs, org, a, OFFICE_TEXT)
    _office_message(db, blobs, org, b, "乙的答复")
    (a_message, _), (b_message, _) = (
        _rows(db, a.report_id, EnvelopeRole.text, 1)[0],
        _rows(db, b.report_id, EnvelopeRole.text, 1)[0],
    )
    _swap_envelopes(db, a_message, b_message)
    with db() as session:
        moved = session.get(ReportEnvelope, a_message)
        forged = moved.header.replace(a.report_id.encode(), b.report_id.encode())
    _sql(db, "UPDATE report_envelopes SET header = :h WHERE id = :id", h=forged, id=a_message)
    with db() as session:
        report = session.get(Report, b.report_id)
        shown = read_thread(blobs, report, _staff(org))
        assert [(m.text, m.problem) for m in shown] == [(None, FileProblem.damaged)]
        # B's reporter holds no key of A's message: not shown, whatever its label says.
        shown = thread(session, blobs, report, b.reporter)
        assert [(m.text, m.problem) for m in shown] == [(None, None)]
        with pytest.raises(FileDamaged):
            read_document(blobs, session.get(ReportEnvelope, a_message), _staff(org), "message")
        # Without a key the label is all fsck can read, and it fits: the key tells.
        blind = fsck(session, blobs, [], delete_orphans=False, min_age=0)
        keyed = fsck(session, blobs, [org.recovery["MCH"]], delete_orphans=False, min_age=0)
    assert [m.envelope_id for m in blind.misplaced] == [b_message]
    assert keyed.damaged == [(a_message, "HmacError")]


def test_a_file_that_names_no_place_is_refused(db, org, blobs):
    sent = _send(db, blobs, WHAT_A, [])
    (text_id, _) = _rows(db, sent.report_id, EnvelopeRole.text)[0]
    inspector = org.keys["mch.insp1"]
    with db() as session:
        row = session.get(ReportEnvelope, text_id)
        # As a file written before places were sealed in: same file key, no label.
        bare = rewrap_header(row.header, [inspector], [inspector.recipient])
    assert places.named_in(bare) is None
    _sql(db, "UPDATE report_envelopes SET header = :h WHERE id = :id", h=bare, id=text_id)
    with db() as session:
        with pytest.raises(Misplaced) as refused:
            read_report(blobs, session.get(Report, sent.report_id), [inspector])
        assert refused.value.names is None and "names no place" in str(refused.value)
    lines = _check_fsck(db, blobs, org, {(text_id, sent.report_id, "")})
    assert "no place" in lines[0]


@pytest.mark.parametrize(
    "label",
    [
        ["2", "ab" * 16, "text", "0", "0"],  # a version to come
        ["1", "ab" * 16, "text", "00", "0"],  # not canonical
        ["1", "ab" * 16, "summary", "0", "0"],
        ["1", "AB" * 16, "text", "0", "0"],
        ["1", "ab" * 16, "text", "0"],
    ],
)
def test_a_label_of_another_version_or_form_names_no_place(label):
    recipient = X25519Identity.generate().recipient
    header = make_header(new_file_key(), [recipient], [Stanza(PLACE_TYPE, label)])
    assert places.named_in(header) is None
    good = make_header(new_file_key(), [recipient], [Place("ab" * 16, EnvelopeRole.text).label()])
    assert places.named_in(good) == Place("ab" * 16, EnvelopeRole.text)
    twice = make_header(
        new_file_key(), [recipient], [Place("ab" * 16, EnvelopeRole.text).label()] * 2
    )
    assert places.named_in(twice) is None


def test_rewrapping_keeps_the_place_and_refuses_a_misplaced_file(db, org, blobs):
    a = _send(db, blobs, WHAT_A, [])
    b = _send(db, blobs, WHAT_B, [])
    outsider = org.keys["grp.insp1"]
    (a_text, _), (b_text, _) = (
        _rows(db, a.report_id, EnvelopeRole.text)[0],
        _rows(db, b.report_id, EnvelopeRole.text)[0],
    )
    with db() as session:
        row = session.get(ReportEnvelope, a_text)
        envelopes.rewrap_envelope(
            row, _staff(org), [org.recovery["MCH"].recipient, outsider.recipient]
        )
    with db() as session:
        assert (
            read_report(blobs, session.get(Report, a.report_id), [outsider]).fields["what"]
            == WHAT_A
        )
    _sql(db, "UPDATE report_envelopes SET report_id = :r WHERE id = :id", r=a.report_id, id=b_text)
    with db() as session:
        row = session.get(ReportEnvelope, b_text)
        before = row.header
        with pytest.raises(Misplaced):
            envelopes.rewrap_envelope(row, _staff(org), [outsider.recipient])
        assert row.header == before


def test_a_message_row_pointing_into_another_report_is_refused(db, org, blobs):
    a = _send(db, blobs, WHAT_A, [])
    b = _send(db, blobs, WHAT_B, [])
    _office_message(db, blobs, org, a, OFFICE_TEXT)
    _office_message(db, blobs, org, b, "乙的答复")
    (a_message, _) = _rows(db, a.report_id, EnvelopeRole.text, 1)[0]
    # Only the message changes: A's text would show in B's thread as B's message 1.
    _sql(
        db,
        "UPDATE report_envelopes SET message_id = :m WHERE id = :id",
        m=_message_id(db, b.report_id, 1),
        id=a_message,
    )
    with db() as session:
        with pytest.raises(Misplaced) as refused:
            envelopes.read_bytes(blobs, session.get(ReportEnvelope, a_message), [a.reporter], 10**6)
        assert b.report_id in str(refused.value)
        message = session.get(ReportMessage, _message_id(db, b.report_id, 1))
        assert len(message.envelopes) == 2


def _attachments(message) -> list[tuple[str | None, str | None, FileProblem | None]]:
    return [
        (f.info.name if f.info else None, f.envelope_id, f.problem) for f in message.attachments
    ]


def test_an_attachment_moved_to_another_message_is_missing_at_one_and_misplaced_at_the_other(
    db, org, blobs
):
    sent = _send(db, blobs, WHAT_A, [("举报附件-合同.txt", "text/plain", "合同".encode())])
    _office_message(db, blobs, org, sent, OFFICE_TEXT)
    _reply(db, blobs, sent, REPLY_TEXT, [("发票照片.txt", "text/plain", "发票".encode())])
    _office_message(db, blobs, org, sent, "已收到发票，正在核实。")
    ((moved, _),) = _rows(db, sent.report_id, EnvelopeRole.attachment, 2)
    _sql(
        db,
        "UPDATE report_envelopes SET message_id = :m WHERE id = :id",
        m=_message_id(db, sent.report_id, 3),
        id=moved,
    )
    with db() as session:
        report = session.get(Report, sent.report_id)
        for shown in (
            read_thread(blobs, report, _staff(org)),
            thread(session, blobs, report, sent.reporter),
        ):
            assert [m.problem for m in shown] == [None, None, None]
            assert _attachments(shown[1]) == [("发票照片.txt", None, FileProblem.missing)]
            assert _attachments(shown[2]) == [(None, moved, FileProblem.misplaced)]
        # The report's own file, moved into the thread: missing from the report's list.
        ((own, _),) = _rows(db, sent.report_id, EnvelopeRole.attachment)
    _sql(
        db,
        "UPDATE report_envelopes SET message_id = :m WHERE id = :id",
        m=_message_id(db, sent.report_id, 1),
        id=own,
    )
    with db() as session:
        report = session.get(Report, sent.report_id)
        text_shown = read_report(blobs, report, _staff(org))
        assert text_shown.fields["what"] == WHAT_A
        assert _attachments(text_shown) == [("举报附件-合同.txt", None, FileProblem.missing)]
        shown = read_thread(blobs, report, _staff(org))
        assert _attachments(shown[0]) == [(None, own, FileProblem.misplaced)]
    _check_fsck(
        db,
        blobs,
        org,
        {(moved, sent.report_id, sent.report_id), (own, sent.report_id, sent.report_id)},
    )


def test_a_message_s_text_moved_to_another_message_leaves_it_missing(db, org, blobs):
    sent = _send(db, blobs, WHAT_A, [])
    _office_message(db, blobs, org, sent, OFFICE_TEXT)
    _reply(db, blobs, sent, REPLY_TEXT)
    ((moved, _),) = _rows(db, sent.report_id, EnvelopeRole.text, 1)
    _sql(
        db,
        "UPDATE report_envelopes SET message_id = :m WHERE id = :id",
        m=_message_id(db, sent.report_id, 2),
        id=moved,
    )
    with db() as session:
        report = session.get(Report, sent.report_id)
        for shown in (
            read_thread(blobs, report, _staff(org)),
            thread(session, blobs, report, sent.reporter),
        ):
            assert [(m.seq, m.text, m.problem) for m in shown] == [
                (1, None, FileProblem.missing),
                (2, REPLY_TEXT, None),
            ]
            assert _attachments(shown[1]) == [(None, moved, FileProblem.misplaced)]
    _check_fsck(db, blobs, org, {(moved, sent.report_id, sent.report_id)})
