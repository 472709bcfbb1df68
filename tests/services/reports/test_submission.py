"""Submitting a report: routed on the server, encrypted to the right people only, one durable
transaction, a fresh receipt code, and nothing readable left anywhere on disk."""

from __future__ import annotations

import io
import json
import secrets
import tempfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from app.db import Base
from app.models import (
    EnvelopeRole,
    MessageAuthor,
    ReaderRole,
    Report,
    ReportEnvelope,
    ReportStatus,
)
from app.services.cases.deadlines import add_months
from app.services.reports import envelopes, messages, submission
from app.services.reports.contents import decode
from app.services.reports.errors import (
    ChannelUnavailable,
    ExclusionsLeaveNoOffice,
    ReportInvalid,
)
from app.services.reports.followup import open_by_code
from app.services.reports.places import PLACE_TYPE
from app.services.reports.submission import ReportFields, check_fields, submit
from app.services.reports.uploads import UploadBatch
from crypto.errors import NoIdentityMatch
from crypto.format import parse_header
from tests.helpers.reports import (
    PARAMS,
    PEPPER,
    TODAY,
    form,
    jpeg_bytes,
    post_multipart,
    upload_files,
)


def _envelope(session, report_id, role, position=0) -> ReportEnvelope:
    return session.scalars(
        select(ReportEnvelope).where(
            ReportEnvelope.report_id == report_id,
            ReportEnvelope.role == role,
            ReportEnvelope.position == position,
            ReportEnvelope.message_id.is_(None),
        )
    ).one()


def _read(blobs, envelope, identity) -> bytes:
    return envelopes.read_bytes(blobs, envelope, [identity], 10**8)


def _stanzas(envelope) -> int:
    """The header's recipient stanzas (its place label aside)."""
    stanzas = parse_header(io.BytesIO(envelope.header)).stanzas
    return len([s for s in stanzas if s.type != PLACE_TYPE])


def test_a_report_is_stored_encrypted_for_the_routed_office(db, org, blobs):
    files = [
        ("现场照片.jpg", "image/jpeg", jpeg_bytes()),
        ("说明.txt", "text/plain", "补充说明".encode()),
    ]
    uploads = upload_files(blobs, files)
    with db() as session:
        done = submit(session, blobs, PEPPER, form(), uploads, TODAY, PARAMS)
    assert len(done.code.replace(" ", "")) == 20 and "code" not in repr(done).split("(")[1][:5]
    assert [a.name for a in done.cleaned_report] == ["现场照片.jpg", "说明.txt"]
    with db() as session:
        report = session.get(Report, done.report_id)
        assert report.office.unit.code == "MCH" and report.unit.code == "MCH-PUR"
        assert report.status == ReportStatus.received and not report.real_name
        assert (report.received_on, report.acknowledge_by, report.feedback_by) == (
            date(2026, 11, 30),
            date(2026, 12, 7),
            date(2027, 3, 1),  # three months end on a Sunday: the next working day
        )
        readers = {(r.staff_id, r.role) for r in report.readers}
        assert readers == {
            (org.staff["mch.insp1"], ReaderRole.inspector),
            (org.staff["mch.insp2"], ReaderRole.inspector),
            (org.staff["mch.head"], ReaderRole.office_head),
        }
        text_envelope = _envelope(session, report.id, EnvelopeRole.text)
        document = decode(_read(blobs, text_envelope, org.keys["mch.insp2"]), "report")
        assert document["fields"]["what"].startswith("2026年10月食堂食材采购")
        assert document["fields"]["unit_code"] == "MCH-PUR"
        assert [a["name"] for a in document["attachments"]] == ["现场照片.jpg", "说明.txt"]
        assert document["attachments"][1]["cleaning"]["state"] == "unsupported"
        photo = _envelope(session, report.id, EnvelopeRole.attachment, 0)
        assert _read(blobs, photo, org.recovery["MCH"]).startswith(b"\xff\xd8")
        assert (
            _read(
                blobs,
                _envelope(session, report.id, EnvelopeRole.attachment, 1),
                org.keys["mch.head"],
            )
            == "补充说明".encode()
        )
        assert not [e for e in report.envelopes if e.role == EnvelopeRole.identity]


def test_recipient_injection_is_ignored(db, org, blobs):
    # A form has no field for an office or a reader: such a field is refused outright.
    with pytest.raises(TypeError):
        ReportFields(**{**vars(form()), "office_id": org.offices["GRP"]})
    outsiders = ["grp.insp1", "grp.head", "f1.insp", "mch.publisher", "mch.gone", "log.insp"]
    crafted = form(excluded=[org.staff[name] for name in outsiders] + [str(org.staff["mch.insp1"])])
    with db() as session:
        done = submit(session, blobs, PEPPER, crafted, [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        assert report.office.unit.code == "MCH"
        # Only the exclusions naming an inspector of MCH, or of GRP above it (where the case
        # may be passed up), count.
        kept = {"mch.insp1", "grp.insp1", "grp.head"}
        assert {e.staff_id for e in report.exclusions} == {org.staff[n] for n in kept}
        text_envelope = _envelope(session, report.id, EnvelopeRole.text)
        assert _stanzas(text_envelope) == 3  # mch.insp2, mch.head and the recovery key
        for name in ("mch.insp2", "mch.head"):
            assert _read(blobs, text_envelope, org.keys[name])
        for name in ["mch.insp1", *[n for n in outsiders if n in org.keys]]:
            with pytest.raises(NoIdentityMatch):
                _read(blobs, text_envelope, org.keys[name])


def test_the_real_name_goes_to_the_office_heads_and_the_recovery_key_only(db, org, blobs):
    named = form(real_name="李四", contact="电话 138-0000-0000")
    with db() as session:
        done = submit(session, blobs, PEPPER, named, [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        assert report.real_name
        identity = _envelope(session, report.id, EnvelopeRole.identity)
        assert _stanzas(identity) == 2
        for holder in (org.keys["mch.head"], org.recovery["MCH"]):
            block = decode(_read(blobs, identity, holder), "identity")
            assert block == {
                "v": 1,
                "doc": "identity",
                "name": "李四",
                "contact": "电话 138-0000-0000",
            }
        with pytest.raises(NoIdentityMatch):
            _read(blobs, identity, org.keys["mch.insp1"])
        report_text = _read(
            blobs, _envelope(session, report.id, EnvelopeRole.text), org.keys["mch.insp1"]
        )
        assert "李四".encode() not in report_text and b"138" not in report_text


def test_the_office_head_reads_the_report_its_files_its_name_and_its_thread(db, org, blobs):
    # GRP's head, 周强, is no inspector: he reads as the head of the office.
    uploads = upload_files(blobs, [("财务凭证.txt", "text/plain", "凭证号 2026-118".encode())])
    named = form(unit_code="GRP-FIN", real_name="李四", excluded=[org.staff["grp.insp1"]])
    with db() as session:
        done = submit(session, blobs, PEPPER, named, uploads, TODAY, PARAMS)
    head, insp2, kept_out = org.keys["grp.head"], org.keys["grp.insp2"], org.keys["grp.insp1"]
    with db() as session:
        report = session.get(Report, done.report_id)
        assert report.office.unit.code == "GRP"
        assert {(r.staff_id, r.role) for r in report.readers} == {
            (org.staff["grp.head"], ReaderRole.office_head),
            (org.staff["grp.insp2"], ReaderRole.inspector),
        }
        text_envelope = _envelope(session, report.id, EnvelopeRole.text)
        file_envelope = _envelope(session, report.id, EnvelopeRole.attachment)
        identity = _envelope(session, report.id, EnvelopeRole.identity)
        assert _stanzas(text_envelope) == _stanzas(file_envelope) == 3  # 周强, 林峰, recovery
        for reader in (head, insp2, org.recovery["GRP"]):
            assert (
                "食堂食材"
                in decode(_read(blobs, text_envelope, reader), "report")["fields"]["what"]
            )
            assert _read(blobs, file_envelope, reader) == "凭证号 2026-118".encode()
        assert decode(_read(blobs, identity, head), "identity")["name"] == "李四"
        with pytest.raises(NoIdentityMatch):
            _read(blobs, identity, insp2)  # the name is the heads' alone
        # The inspector kept out reads nothing of it.
        for envelope in (text_envelope, file_envelope, identity):
            with pytest.raises(NoIdentityMatch):
                _read(blobs, envelope, kept_out)
        # The thread: the head reads the reporter's messages; the one kept out does not.
        message = messages.store_message(
            session, blobs, report, MessageAuthor.reporter, "补充：凭证在财务室。", [], TODAY
        )
        (body,) = message.envelopes
        assert decode(_read(blobs, body, head), "message")["text"] == "补充：凭证在财务室。"
        with pytest.raises(NoIdentityMatch):
            _read(blobs, body, kept_out)


def test_a_head_kept_out_sends_the_report_to_the_office_above(db, org, blobs):
    # 吴刚 heads MCH's office (and is one of its inspectors): a report that keeps him out is
    # GRP's, not left to the inspectors he leads.
    uploads = upload_files(blobs, [("合同.txt", "text/plain", "合同编号 HX-2026-7".encode())])
    named = form(real_name="李四", excluded=[org.staff["mch.head"]])
    with db() as session:
        done = submit(session, blobs, PEPPER, named, uploads, TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        assert report.office.unit.code == "GRP"
        assert {e.staff_id for e in report.exclusions} == {org.staff["mch.head"]}
        assert org.staff["mch.head"] not in {r.staff_id for r in report.readers}
        for envelope in report.envelopes:
            for name in ("mch.head", "mch.insp1", "mch.insp2"):
                with pytest.raises(NoIdentityMatch):
                    _read(blobs, envelope, org.keys[name])
        identity = _envelope(session, report.id, EnvelopeRole.identity)
        assert decode(_read(blobs, identity, org.keys["grp.head"]), "identity")["name"] == "李四"


def test_keeping_out_the_head_of_the_top_office_stores_nothing(db, org, blobs):
    uploads = upload_files(blobs, [("证据.txt", "text/plain", b"evidence")])
    with db() as session, pytest.raises(ExclusionsLeaveNoOffice):
        submit(
            session,
            blobs,
            PEPPER,
            form(unit_code="GRP-FIN", excluded=[org.staff["grp.head"]]),
            uploads,
            TODAY,
            PARAMS,
        )
    with db() as session:
        assert session.scalars(select(Report)).first() is None
    assert not [p for p in Path(blobs.root).rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"kind": "rumour"}, {"kind": "unknown"}),
        ({"category": None}, {"category": "unknown"}),
        ({"level": "ceo"}, {"level": "unknown"}),
        ({"unit_code": "不存在的单位"}, {"unit_code": "unknown"}),
        ({"unit_code": "x" * 10_000}, {"unit_code": "unknown"}),
        ({"what": "  \n "}, {"what": "required"}),
        ({"what": "字" * 20_001}, {"what": "too_long"}),
        ({"persons": "人" * 1_001}, {"persons": "too_long"}),
        ({"what": "a\x00b"}, {"what": "invalid"}),
        ({"what": "\ud800"}, {"what": "invalid"}),
        ({"contact": 12345}, {"contact": "invalid"}),
        ({"excluded": [2**63]}, {"excluded": "invalid"}),
        ({"excluded": ["9" * 400]}, {"excluded": "invalid"}),
        ({"excluded": ["-1"]}, {"excluded": "invalid"}),
        ({"excluded": [True]}, {"excluded": "invalid"}),
        ({"excluded": list(range(1, 52))}, {"excluded": "too_many"}),
        ({"kind": "x", "what": ""}, {"kind": "unknown", "what": "required"}),
    ],
)
def test_a_bad_form_is_refused_with_every_mistake_and_leaves_nothing(
    db, org, blobs, changes, errors
):
    uploads = upload_files(blobs, [("证据.txt", "text/plain", "证据".encode())])
    with db() as session, pytest.raises(ReportInvalid) as caught:
        submit(session, blobs, PEPPER, form(**changes), uploads, TODAY, PARAMS)
    assert caught.value.errors == errors
    with db() as session:
        assert session.scalar(select(Report.id)) is None
    assert list(blobs.keys()) == []


# Characters each text is taken up to (the web form and its maxlength follow these).
TEXT_LIMITS = [("persons", 1_000), ("what", 20_000), ("when", 200), ("where", 200)]
TEXT_LIMITS += [("witnesses", 1_000), ("real_name", 100), ("contact", 200)]


@pytest.mark.parametrize(("name", "limit"), TEXT_LIMITS)
def test_each_text_is_taken_up_to_its_limit_and_not_one_character_more(db, org, name, limit):
    at_limit = ("铸造分厂熔炼车间" * limit)[:limit]
    assert list(submission.TEXT_LIMITS) == [name for name, _limit in TEXT_LIMITS]
    with db() as session:
        assert check_fields(session, form(**{name: at_limit})).texts[name] == at_limit
        with pytest.raises(ReportInvalid) as caught:
            check_fields(session, form(**{name: at_limit + "东"}))
    assert caught.value.errors == {name: "too_long"}


def test_no_office_that_can_read_means_nothing_stored(db, org, blobs):
    uploads = upload_files(blobs, [("证据.jpg", "image/jpeg", jpeg_bytes())])
    with db() as session, pytest.raises(ChannelUnavailable):
        submit(session, blobs, PEPPER, form(unit_code="ISL"), uploads, TODAY, PARAMS)
    with db() as session:
        assert session.scalar(select(Report.id)) is None
        assert session.scalar(select(ReportEnvelope.id)) is None
    assert list(blobs.keys()) == []


def test_a_failed_commit_leaves_no_rows_and_no_blobs(db, org, blobs, monkeypatch):
    def failing_commit(session, day_start):
        raise RuntimeError("disk full")

    monkeypatch.setattr(submission, "commit_durably", failing_commit)
    uploads = upload_files(blobs, [("证据.jpg", "image/jpeg", jpeg_bytes())])
    with db() as session, pytest.raises(RuntimeError):
        submit(session, blobs, PEPPER, form(real_name="李四"), uploads, TODAY, PARAMS)
    with db() as session:
        for table in ("reports", "report_envelopes", "report_readers", "report_exclusions"):
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0
    assert list(blobs.keys()) == []


def test_a_lookup_id_clash_draws_a_new_code_and_never_shares_a_mailbox(db, org, blobs, monkeypatch):
    first_code, second_code = "1234 5678 9012 3456 7890", "0987 6543 2109 8765 4321"
    drawn = iter([first_code, first_code, second_code])
    monkeypatch.setattr(submission, "new_receipt_code", lambda: next(drawn))
    with db() as session:
        first = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    with db() as session:
        second = submit(
            session, blobs, PEPPER, form(what="另一件事：张三虚报加班费。"), [], TODAY, PARAMS
        )
    assert first.code == first_code and second.code == second_code
    with db() as session:
        assert open_by_code(session, PEPPER, first_code, PARAMS).report.id == first.report_id
        assert open_by_code(session, PEPPER, second_code, PARAMS).report.id == second.report_id
        assert len(session.scalars(select(Report.lookup_id)).all()) == 2
        # Each report's text and envelopes are its own.
        assert len(session.get(Report, second.report_id).envelopes) == 1


def test_the_same_form_sent_twice_makes_two_reports_with_different_codes(db, org, blobs):
    with db() as session:
        one = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    with db() as session:
        two = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    assert one.code != two.code and one.report_id != two.report_id


def test_the_commit_is_synchronous(db, org, blobs):
    engine = db.app.extensions["portal.db"].engine
    seen = []

    def on_commit(connection):
        raw = connection.connection.dbapi_connection
        if engine.dialect.name == "sqlite":
            seen.append(raw.execute("PRAGMA synchronous").fetchone()[0])
        else:
            seen.append(raw.execute("SHOW synchronous_commit").fetchone()[0])

    event.listen(engine, "commit", on_commit)
    try:
        with db() as session:
            submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    finally:
        event.remove(engine, "commit", on_commit)
    assert seen[-1] in (2, "on")


def test_feedback_dates_keep_to_the_end_of_short_months():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2026, 10, 31), 3) == date(2027, 1, 31)
    assert add_months(date(2026, 1, 15), 12) == date(2027, 1, 15)


def _files_containing(folder: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle!r}" for needle in needles if needle in data]
    return found


def test_no_plaintext_reaches_the_disk_or_the_database(db, org, blobs, monkeypatch, tmp_path):

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    canary = f"CANARY{secrets.token_hex(8)}金丝雀"
    needles = [canary.encode(), canary.encode("utf-16-le"), canary.encode("utf-16-be")]
    big = (canary + "\n").encode() * 40_000  # about 1 MB: more than one chunk
    batch = UploadBatch(blobs)
    fields, _files = post_multipart(
        batch,
        {
            "files": [
                (io.BytesIO(big), f"记录{canary}.txt", "text/plain"),
                (io.BytesIO(jpeg_bytes()), "照片.jpg", "image/jpeg"),
            ]
        },
        {"what": f"举报：{canary}"},
    )
    uploads = batch.finish()
    with db() as session:
        done = submit(
            session,
            blobs,
            PEPPER,
            form(what=fields["what"], real_name=canary),
            uploads,
            TODAY,
            PARAMS,
        )
    # The readers see it (the test would prove nothing if the canary were lost).
    with db() as session:
        text_envelope = _envelope(session, done.report_id, EnvelopeRole.text)
        assert canary.encode() in _read(blobs, text_envelope, org.keys["mch.insp1"])
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    assert not any(needle in raw for needle in needles), table.name
    db.app.extensions["portal.db"].engine.dispose()  # the WAL and the file as they are on disk
    instance = Path(db.app.instance_path)
    assert instance in Path(blobs.root).parents
    assert _files_containing(instance, needles) == []
    assert _files_containing(temp, needles) == []
    assert json.dumps(canary) not in str(list(blobs.keys()))


def test_sqlite_keeps_no_arrival_order_of_reports(sqlite_instance):
    """No implicit rowid: nothing in the file says which report (or file) came first."""
    from sqlalchemy import create_engine, text

    from app.db import Base

    engine = create_engine(sqlite_instance.database_url)
    Base.metadata.create_all(engine)
    with engine.connect() as conn:
        for table in (
            "reports",
            "report_messages",
            "report_envelopes",
            "report_readers",
            "report_exclusions",
        ):
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table})
            assert sql.rstrip().upper().endswith("WITHOUT ROWID"), table
    engine.dispose()


def test_the_database_files_are_dated_by_the_day_after_a_report(sqlite_instance):
    import os
    import time

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.db import Base
    from app.services.reports.durability import commit_durably, prepare_durable_commit

    engine = create_engine(sqlite_instance.database_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        prepare_durable_commit(session)
        session.connection().exec_driver_sql("CREATE TABLE t (x)")
        commit_durably(session, int(time.time()) // 86400 * 86400)
    midnight = int(time.time()) // 86400 * 86400
    database = sqlite_instance.database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(database + suffix):
            assert os.stat(database + suffix).st_mtime == midnight, suffix
    engine.dispose()
