"""A reporter's follow-up pages when files were moved between reports on the server: the page
says so in plain words, shows nothing of the moved file, and never fails with a 500."""

from __future__ import annotations

import re

from flask_babel import force_locale
from sqlalchemy import text

from app.models import EnvelopeRole, Report, StaffUser
from app.services.reports.errors import FileProblem
from app.services.reports.messages import post_office_message
from app.services.reports.submission import submit
from app.web.reports import file_problem_text
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files

A_WORDS = "甲：请于下周三上午到纪委办公室面谈，届时请带上发票原件。"
B_WORDS = "乙：您反映的公车私用问题已转车队所在单位核查。"
MISPLACED_ZH = "此文件不在它原本所属的位置"
DAMAGED_ZH = "此文件无法打开"


def _report_with_a_message(db, blobs, org, what: str, words: str, file_name: str):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(what=what), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        files = upload_files(blobs, [(file_name, "text/plain", words.encode())])
        post_office_message(session, blobs, report, inspector, words, files, TODAY)
        envelope_of = {e.role: e.id for e in report.messages[0].envelopes}
    return done, envelope_of


def _follow_up(public_app, done):
    """A browser in the follow-up session of ``done``'s reporter."""
    identity = derive_receipt(done.code, PEPPER, PARAMS.current_params).identity
    token = public_app.extensions["portal.followup_sessions"].start(done.report_id, identity)
    client = public_app.test_client()
    client.set_cookie("portal_followup", token, path="/report/")
    return client


def _swap(db, first: str, second: str) -> None:
    """Swap two files' rows between their reports and messages, by SQL (the blobs stay)."""
    with db() as session:
        rows = {
            row.id: row
            for row in session.execute(
                text("SELECT id, report_id, message_id FROM report_envelopes WHERE id IN (:a, :b)"),
                {"a": first, "b": second},
            )
        }
        for one, other in ((first, second), (second, first)):
            session.execute(
                text("UPDATE report_envelopes SET report_id = :r, message_id = :m WHERE id = :id"),
                {"r": rows[other].report_id, "m": rows[other].message_id, "id": one},
            )


def test_a_message_moved_from_another_report_is_refused_on_the_follow_up_page(
    db, org, blobs, public_app
):
    a, a_files = _report_with_a_message(db, blobs, org, "甲报告正文", A_WORDS, "甲-面谈通知.txt")
    b, b_files = _report_with_a_message(db, blobs, org, "乙报告正文", B_WORDS, "乙-核查通知.txt")
    client = _follow_up(public_app, b)
    page = client.get("/report/follow-up").get_data(as_text=True)
    assert B_WORDS in page and MISPLACED_ZH not in page
    # Header and payload of A's message text and of its file onto B's rows, and B's onto A's.
    _swap(db, a_files[EnvelopeRole.text], b_files[EnvelopeRole.text])
    _swap(db, a_files[EnvelopeRole.attachment], b_files[EnvelopeRole.attachment])
    response = client.get("/report/follow-up")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert MISPLACED_ZH in page and "您可以在回复中告知纪检部门" in page
    assert A_WORDS not in page and B_WORDS not in page
    assert "/report/follow-up/files/" not in page  # a file out of its place is not offered
    assert "乙-核查通知.txt" not in page  # the list is in the message that was refused
    # Asked for anyway, the moved file is refused with the same words, not sent.
    download = client.get(f"/report/follow-up/files/{a_files[EnvelopeRole.attachment]}")
    body = download.get_data(as_text=True)
    assert download.status_code == 409 and MISPLACED_ZH in body
    assert A_WORDS.encode() not in download.data and "Content-Disposition" not in download.headers
    # A's reporter sees the same for B's files now at A's place.
    page = _follow_up(public_app, a).get("/report/follow-up").get_data(as_text=True)
    assert MISPLACED_ZH in page and B_WORDS not in page and A_WORDS not in page


def test_files_of_a_message_swapped_in_position_are_refused_on_the_page(db, org, blobs, public_app):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        files = [
            ("询问笔录.txt", "text/plain", "笔录内容".encode()),
            ("处理意见.txt", "text/plain", "意见内容".encode()),
        ]
        post_office_message(
            session, blobs, report, inspector, A_WORDS, upload_files(blobs, files), TODAY
        )
        attachments = sorted(
            (e.position, e.id)
            for e in report.messages[0].envelopes
            if e.role == EnvelopeRole.attachment
        )
    client = _follow_up(public_app, done)
    page = client.get("/report/follow-up").get_data(as_text=True)
    links = re.findall(r'href="(/report/follow-up/files/[^"]+)"', page)
    assert len(links) == 2 and MISPLACED_ZH not in page
    with db() as session:
        for (position, envelope_id), (_, other) in zip(
            attachments, reversed(attachments), strict=True
        ):
            session.execute(
                text("UPDATE report_envelopes SET position = :p WHERE id = :id"),
                {"p": 1 - position, "id": envelope_id},
            )
            assert other != envelope_id
    page = client.get("/report/follow-up").get_data(as_text=True)
    assert A_WORDS in page  # the message itself is in its place
    assert "询问笔录.txt" in page and "处理意见.txt" in page
    assert page.count(MISPLACED_ZH) == 2 and "/report/follow-up/files/" not in page
    for link in links:
        download = client.get(link.replace("&amp;", "&"))
        assert download.status_code == 409 and MISPLACED_ZH in download.get_data(as_text=True)
        assert "笔录内容".encode() not in download.data and "意见内容".encode() not in download.data


def _bad_mac(header: bytes) -> bytes:
    mac_at = header.rindex(b"--- ") + 4
    flipped = b"A" if header[mac_at : mac_at + 1] != b"A" else b"B"
    return header[:mac_at] + flipped + header[mac_at + 1 :]


def test_a_file_changed_on_the_server_is_refused_with_its_own_words(db, org, blobs, public_app):
    done, files = _report_with_a_message(db, blobs, org, "举报正文", A_WORDS, "面谈通知.txt")
    with db() as session:
        for envelope_id in files.values():
            header = session.execute(
                text("SELECT header FROM report_envelopes WHERE id = :id"), {"id": envelope_id}
            ).scalar_one()
            session.execute(
                text("UPDATE report_envelopes SET header = :h WHERE id = :id"),
                {"h": _bad_mac(header), "id": envelope_id},
            )
    client = _follow_up(public_app, done)
    response = client.get("/report/follow-up")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and DAMAGED_ZH in page and A_WORDS not in page
    download = client.get(f"/report/follow-up/files/{files[EnvelopeRole.attachment]}")
    assert download.status_code == 409 and DAMAGED_ZH in download.get_data(as_text=True)
    assert A_WORDS.encode() not in download.data


def test_staff_and_reporter_are_told_in_their_own_words(console_app):
    with console_app.test_request_context():
        staff = file_problem_text(FileProblem.misplaced, staff=True)
        assert MISPLACED_ZH in staff and "portal reports fsck" in staff
        assert DAMAGED_ZH in file_problem_text(FileProblem.damaged, staff=True)
        with force_locale("en"):
            assert "moved or swapped" in file_problem_text(FileProblem.misplaced, staff=False)


MISSING_ZH = "此文件缺失"


def test_a_file_moved_to_another_message_is_said_missing_at_one_and_misplaced_at_the_other(
    db, org, blobs, public_app
):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(what="食堂采购回扣问题"), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        post_office_message(session, blobs, report, inspector, A_WORDS, [], TODAY)
        files = upload_files(blobs, [("约谈记录.txt", "text/plain", "约谈内容".encode())])
        post_office_message(session, blobs, report, inspector, B_WORDS, files, TODAY)
        post_office_message(session, blobs, report, inspector, "请尽快回复。", [], TODAY)
        (moved,) = [e.id for e in report.messages[1].envelopes if e.role == EnvelopeRole.attachment]
        third = report.messages[2].id
    client = _follow_up(public_app, done)
    assert MISSING_ZH not in client.get("/report/follow-up").get_data(as_text=True)
    with db() as session:
        session.execute(
            text("UPDATE report_envelopes SET message_id = :m WHERE id = :id"),
            {"m": third, "id": moved},
        )
    response = client.get("/report/follow-up")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and B_WORDS in page and "请尽快回复。" in page
    assert "约谈记录.txt" in page and MISSING_ZH in page  # named where it was written
    assert MISPLACED_ZH in page and "此消息未列出的文件" in page  # and said where it is now
    assert "/report/follow-up/files/" not in page
    download = client.get(f"/report/follow-up/files/{moved}")
    assert download.status_code == 409 and MISPLACED_ZH in download.get_data(as_text=True)
    with public_app.test_request_context(), force_locale("en"):
        assert "missing" in file_problem_text(FileProblem.missing, staff=False)
