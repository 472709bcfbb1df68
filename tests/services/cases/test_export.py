"""A case exported as one age file: the standard age CLI opens it offline, the tar inside holds
every document under its Chinese name and a UTF-8 index, and memory stays bounded."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tracemalloc

import pytest

from app.models import Report, StaffUser
from app.services.cases.access import NotAReader
from app.services.cases.export import (
    INDEX_NAME,
    ExportRefused,
    export_chunks,
    export_recipients,
    prepare_export,
    safe_name,
    write_export,
)
from crypto.age import decrypt_bytes
from crypto.keys import X25519Identity
from tests.helpers.cases import (
    OFFICE_FILES,
    REPORT_FILES,
    REPORTER_FILES,
    audit_lines,
    make_case,
)
from tests.helpers.crypto_tools import age, age_keygen, require_tool
from tests.helpers.reports import TODAY, form, upload_files


def _user(session, org, name) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


@pytest.fixture
def case(db, org, blobs):
    return make_case(db, blobs, excluded=[org.staff["mch.insp2"]])


def _export(db, org, blobs, report_id, who="mch.insp1", reader_ids=(), typed="") -> bytes:
    with db() as session:
        report = session.get(Report, report_id)
        recipients = export_recipients(session, report, reader_ids, typed)
        ready = prepare_export(
            session, blobs, report, [org.keys[who]], _user(session, org, who), recipients
        )
        out = io.BytesIO()
        write_export(blobs, ready, [org.keys[who]], TODAY, out)
    return out.getvalue()


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_the_age_cli_opens_the_export_and_the_archive_holds_the_case(
    db, org, blobs, case, tmp_path
):
    keygen = age_keygen("-o", str(tmp_path / "offline.txt"))
    assert keygen.returncode == 0, keygen.stderr
    offline = X25519Identity.parse(
        next(
            line
            for line in (tmp_path / "offline.txt").read_text().splitlines()
            if line.startswith("AGE-SECRET-KEY-")
        )
    )
    exported = _export(
        db,
        org,
        blobs,
        case.report_id,
        reader_ids=[org.staff["mch.head"]],
        typed=f"  {offline.recipient}\n",
    )
    with db() as session:  # whom it went to, in the audit trail; nothing of its content
        assert audit_lines(session, case.report_id) == [
            ("export", "mch.insp1", None, f"to mch.head, {offline.recipient}")
        ]
    (tmp_path / "case.age").write_bytes(exported)
    opened = age("-d", "-i", str(tmp_path / "offline.txt"), str(tmp_path / "case.age"))
    assert opened.returncode == 0, opened.stderr
    archive = opened.stdout
    # Our crypto opens it too, for the chosen reader, and to the same archive.
    assert decrypt_bytes(exported, [org.keys["mch.head"]]) == archive
    members = _members(archive)
    root = f"案件_{case.report_id[:8]}"
    assert all(name.startswith(root + "/") and ".." not in name for name in members)
    report_text = members[f"{root}/01_举报内容_report.txt"].decode()
    assert "王某指定供应商并收取回扣" in report_text and "采购部副部长 王某" in report_text
    for number, (name, _type, data) in enumerate(REPORT_FILES, start=1):
        assert members[f"{root}/02_举报附件_files/{number:02d}_{name}"] == data
    thread = f"{root}/03_往来消息_thread"
    assert "已受理，请补充材料。" in members[f"{thread}/001_消息_message.txt"].decode()
    assert "补充：供应商名单见附件。" in members[f"{thread}/002_消息_message.txt"].decode()
    assert members[f"{thread}/001_附件_files/01_{OFFICE_FILES[0][0]}"] == OFFICE_FILES[0][2]
    assert members[f"{thread}/002_附件_files/01_{REPORTER_FILES[0][0]}"] == REPORTER_FILES[0][2]
    # The real name never goes in; the index says there is one.
    assert not any("李四".encode() in data or b"6021" in data for data in members.values())
    index = members[f"{root}/{INDEX_NAME}"].decode("utf-8")
    assert "实名信息 Real name: 有，未导出" in index
    assert f"文件 Files ({len(members) - 1}):" in index
    for name, data in members.items():
        if name.endswith(INDEX_NAME):
            continue
        assert (
            f"{name}\n    {len(data)} 字节 bytes  SHA-256 {hashlib.sha256(data).hexdigest()}"
            in (index)
        )
    # GNU tar extracts it with the Chinese names as well.
    tar = require_tool("tar")
    (tmp_path / "out").mkdir()
    extracted = subprocess.run(
        [tar, "-x", "-C", str(tmp_path / "out")], input=archive, capture_output=True, check=False
    )
    assert extracted.returncode == 0, extracted.stderr
    on_disk = tmp_path / "out" / root / "02_举报附件_files" / f"01_{REPORT_FILES[0][0]}"
    assert on_disk.read_bytes() == REPORT_FILES[0][2]


def test_only_the_chosen_recipients_open_the_export(db, org, blobs, case):
    exported = _export(db, org, blobs, case.report_id, reader_ids=[org.staff["mch.head"]])
    assert decrypt_bytes(exported, [org.keys["mch.head"]])
    for key in (org.keys["mch.insp1"], org.recovery["MCH"], case.reporter):
        with pytest.raises(Exception, match="no identity matched"):
            decrypt_bytes(exported, [key])


@pytest.mark.parametrize(
    ("readers", "typed", "says"),
    [
        ([], "", "Choose a colleague or type an age key"),
        (["mch.insp2"], "", "does not read this case"),  # kept out by the reporter
        (["grp.head"], "", "does not read this case"),
        ([], "age1qqqq 举报人的公钥", "Typed key 1 is not an age public key"),
        ([], f"{X25519Identity.generate().recipient}，not-a-key", "Typed key 2 is not"),
        ([], str(X25519Identity.generate()), "Typed key 1 is not"),  # a secret key, pasted
    ],
    ids=["nobody", "kept-out", "other-office", "garbage", "second-bad", "secret-key"],
)
def test_recipients_are_checked(db, org, blobs, case, readers, typed, says):
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(ExportRefused, match=says) as refused:
            export_recipients(session, report, [org.staff[n] for n in readers], typed)
        assert "AGE-SECRET-KEY" not in str(refused.value)


def test_a_typed_key_with_full_width_separators_and_a_reader_together(db, org, blobs, case):
    typed = X25519Identity.generate().recipient
    with db() as session:
        report = session.get(Report, case.report_id)
        keys = export_recipients(session, report, [org.staff["mch.insp1"]] * 2, f"{typed}、{typed}")
        assert [str(k) for k in keys] == [str(org.keys["mch.insp1"].recipient), str(typed)]


def test_only_a_reader_exports_and_only_with_keys_that_open_every_file(db, org, blobs, case):
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        recipients = [org.keys["mch.head"].recipient]
        with pytest.raises(NotAReader):
            prepare_export(
                session,
                blobs,
                report,
                [org.keys["grp.head"]],
                _user(session, org, "grp.head"),
                recipients,
            )
        with pytest.raises(ExportRefused, match="does not open"):
            prepare_export(
                session,
                blobs,
                report,
                [X25519Identity.generate()],
                _user(session, org, "mch.insp1"),
                recipients,
            )


def test_a_large_file_is_exported_in_bounded_memory(db, org, blobs):
    big = bytes(range(256)) * (24 * 4096)  # 24 MiB, stored as sent (too large to clean)
    with db() as session:
        from app.services.reports.submission import submit
        from tests.helpers.reports import PARAMS, PEPPER

        uploads = upload_files(blobs, [("监控录像 导出.bin", "application/octet-stream", big)])
        done = submit(session, blobs, PEPPER, form(), uploads, TODAY, PARAMS)
    reader = X25519Identity.generate()
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = _user(session, org, "mch.insp1")
        ready = prepare_export(
            session, blobs, report, [org.keys["mch.insp1"]], inspector, [reader.recipient]
        )
        out = io.BytesIO()
        tracemalloc.start()
        try:
            for chunk in export_chunks(blobs, ready, [org.keys["mch.insp1"]], TODAY):
                out.write(chunk)
                del chunk
                out.seek(0)  # keep only the last piece: the export's own memory is measured
                out.truncate()
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, peak
    exported = _export(db, org, blobs, done.report_id, typed=str(reader.recipient))
    members = _members(decrypt_bytes(exported, [reader]))
    (data,) = [v for k, v in members.items() if k.endswith("监控录像 导出.bin")]
    assert data == big


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("/绝对路径.txt", "_绝对路径.txt"),
        ("..\\..\\报告.doc", "_.._报告.doc"),
        ("行\n换.txt", "行_换.txt"),
        ("...", "file"),
        ("很长" * 100 + ".pdf", "很长" * 58 + ".pdf"),
    ],
    ids=["up", "absolute", "backslashes", "newline", "dots", "long"],
)
def test_file_names_stay_inside_the_archive(name, safe):
    assert safe_name(name) == safe
    assert "/" not in safe_name(name) and len(safe_name(name)) <= 120
