"""Internal notes follow every change of who reads a case: a grant opens them for the grantee,
a recusal and a transfer close them to whoever lost the case, a re-grant by recovery opens them
for the new key, and an export carries them; never the reporter, and no payload changes."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
from sqlalchemy import select

from app.models import CaseNote, DisciplineOffice, Report, StaffUser
from app.services.cases.access import KeysDoNotOpen, grant, recuse, regrant_by_recovery, transfer_up
from app.services.cases.export import export_recipients, prepare_export, write_export
from app.services.cases.notes import add_note, notes_of, read_notes
from app.services.recovery import recovery_ceremony
from crypto.age import decrypt_bytes
from crypto.keys import X25519Identity
from tests.helpers.cases import add_staff, make_case
from tests.helpers.reports import TODAY

NOTES = ["王某与供应商系亲属关系，需核实。", "建议约谈采购部副部长。"]


def _user(session, org, name) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


def _opened(session, blobs, report_id, identity) -> list[str]:
    report = session.get(Report, report_id)
    return [n.text for n in read_notes(session, blobs, report, [identity]) if n.text]


def _note_payloads(session, blobs, report_id) -> dict[str, str]:
    report = session.get(Report, report_id)
    digests = {}
    for note in notes_of(session, report):
        with blobs.open(note.blob_key) as blob:
            digests[note.blob_key] = hashlib.sha256(blob.read()).hexdigest()
    return digests


@pytest.fixture
def case(db, org, blobs):
    made = make_case(db, blobs, excluded=[org.staff["mch.insp2"]])
    with db() as session:
        report = session.get(Report, made.report_id)
        for text in NOTES:
            add_note(session, blobs, _user(session, org, "mch.insp1"), report, text, TODAY)
    with db() as session:
        assert len(_note_payloads(session, blobs, made.report_id)) == 2
    return made


def test_a_grant_opens_the_notes_for_the_grantee_and_leaves_their_payloads_alone(
    db, org, blobs, case
):
    with db() as session:
        add_staff(session, org, "mch.new", "新任纪检员 马丽", "MCH")
    with db() as session:
        before = _note_payloads(session, blobs, case.report_id)
        assert _opened(session, blobs, case.report_id, org.keys["mch.new"]) == []
        report = session.get(Report, case.report_id)
        done = grant(
            session,
            report,
            [org.keys["mch.insp1"]],
            _user(session, org, "mch.insp1"),
            _user(session, org, "mch.new"),
        )
        assert done.files == 9  # 7 files of the report and its thread, 2 notes
    with db() as session:
        assert _opened(session, blobs, case.report_id, org.keys["mch.new"]) == NOTES
        assert _opened(session, blobs, case.report_id, org.keys["mch.head"]) == NOTES
        assert _opened(session, blobs, case.report_id, org.recovery["MCH"]) == NOTES
        # Never the reporter, nor the one the reporter kept out.
        assert _opened(session, blobs, case.report_id, case.reporter) == []
        assert _opened(session, blobs, case.report_id, org.keys["mch.insp2"]) == []
        assert _note_payloads(session, blobs, case.report_id) == before


def test_a_recused_inspector_opens_no_note_any_more(db, org, blobs, case):
    with db() as session:
        before = _note_payloads(session, blobs, case.report_id)
        report = session.get(Report, case.report_id)
        recuse(session, report, [org.keys["mch.insp1"]], _user(session, org, "mch.insp1"), TODAY)
    with db() as session:
        assert _opened(session, blobs, case.report_id, org.keys["mch.insp1"]) == []
        assert _opened(session, blobs, case.report_id, org.keys["mch.head"]) == NOTES
        assert _note_payloads(session, blobs, case.report_id) == before


def test_a_transfer_passes_the_notes_to_the_office_above_only(db, org, blobs, case):
    with db() as session:
        before = _note_payloads(session, blobs, case.report_id)
        report = session.get(Report, case.report_id)
        transfer_up(session, report, [org.keys["mch.head"]], _user(session, org, "mch.head"), TODAY)
    with db() as session:
        for name in ("mch.head", "mch.insp1"):
            assert _opened(session, blobs, case.report_id, org.keys[name]) == []
        assert _opened(session, blobs, case.report_id, org.recovery["MCH"]) == []
        for key in (org.keys["grp.insp1"], org.keys["grp.head"], org.recovery["GRP"]):
            assert _opened(session, blobs, case.report_id, key) == NOTES
        assert _opened(session, blobs, case.report_id, case.reporter) == []
        assert _note_payloads(session, blobs, case.report_id) == before


def test_a_re_grant_by_recovery_opens_the_notes_for_the_new_key(db, org, blobs):
    with db() as session:
        office = session.get(DisciplineOffice, org.offices["MCH"])
        made = recovery_ceremony(
            session, office, 2, 3, ["张伟", "王敏", "刘洋"], TODAY, replace=True
        )
        shares = [" ".join(sheet.words) for sheet in made]
    case = make_case(db, blobs)
    with db() as session:
        report = session.get(Report, case.report_id)
        add_note(session, blobs, _user(session, org, "mch.head"), report, NOTES[0], TODAY)
    fresh = X25519Identity.generate()
    with db() as session:
        _user(session, org, "mch.insp1").age_recipient = str(fresh.recipient)
    with db() as session:
        before = _note_payloads(session, blobs, case.report_id)
        regrant_by_recovery(
            session,
            session.get(DisciplineOffice, org.offices["MCH"]),
            shares[:2],
            [session.get(Report, case.report_id)],
            _user(session, org, "mch.insp1"),
            [_user(session, org, "mch.head"), _user(session, org, "mch.insp2")],
        )
    with db() as session:
        assert _opened(session, blobs, case.report_id, fresh) == [NOTES[0]]
        assert _note_payloads(session, blobs, case.report_id) == before


def test_the_export_carries_the_notes(db, org, blobs, case):
    with db() as session:
        report = session.get(Report, case.report_id)
        recipients = export_recipients(session, report, [org.staff["mch.head"]])
        ready = prepare_export(
            session,
            blobs,
            report,
            [org.keys["mch.insp1"]],
            _user(session, org, "mch.insp1"),
            recipients,
        )
        out = io.BytesIO()
        write_export(blobs, ready, [org.keys["mch.insp1"]], TODAY, out)
        author = _user(session, org, "mch.insp1").display_name
    archive = decrypt_bytes(out.getvalue(), [org.keys["mch.head"]])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    root = f"案件_{case.report_id[:8]}"
    for seq, text in enumerate(NOTES, start=1):
        note = members[f"{root}/04_内部备注_notes/{seq:03d}_备注_note.txt"].decode()
        assert text in note and author in note
    index = members[f"{root}/索引_index.txt"].decode()
    assert "04_内部备注_notes/001_备注_note.txt" in index


def test_a_note_moved_onto_another_case_is_not_rewrapped_there(db, org, blobs, case):
    """A note's header carries its place: a grant refuses to give a moved note away."""
    other = make_case(db, blobs)
    with db() as session:
        target = session.get(Report, other.report_id)
        add_note(session, blobs, _user(session, org, "mch.head"), target, "占位备注", TODAY)
        add_staff(session, org, "mch.new", "新任纪检员 马丽", "MCH")
    with db() as session:
        source = session.scalar(select(CaseNote).filter_by(report_id=case.report_id, seq=1))
        placeholder = session.scalar(select(CaseNote).filter_by(report_id=other.report_id))
        placeholder.header = source.header
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, other.report_id)
        with pytest.raises(KeysDoNotOpen, match="internal note 1"):
            grant(
                session,
                report,
                [org.keys["mch.head"]],
                _user(session, org, "mch.head"),
                _user(session, org, "mch.new"),
            )
