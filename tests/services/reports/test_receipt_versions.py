"""Receipt versions: a code opens its report under the version that made it, every code entered
costs the derivations of every version in use, and a version this server does not know is
refused clearly."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text

from app.models import RECEIPT_VERSION_UNRECORDED, Report, StaffUser
from app.services.reports.followup import open_by_code, reply, thread
from app.services.reports.fsck import fsck
from app.services.reports.messages import post_office_message
from app.services.reports.receipt_versions import (
    ReceiptVersionRefused,
    reports_by_version,
    unknown_versions,
    versions_in_use,
)
from app.services.reports.submission import submit
from crypto import receipts
from crypto.receipts import RECEIPT_VERSIONS, ReceiptParams, ReceiptVersions
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form

# The server before the lane change, in small: version 1 is its only one, and current.
OLD_SERVER = ReceiptVersions({1: PARAMS[1]}, current=1)
# A newer server than this one: it knows a version 3, which this one does not.
NEWER_SERVER = ReceiptVersions({**{v: PARAMS[v] for v in PARAMS}, 3: ReceiptParams(128, 1, 1)}, 3)


@pytest.fixture
def derivations(monkeypatch) -> list[ReceiptParams]:
    """The parameters of every Argon2id run, in the order they ran."""
    ran: list[ReceiptParams] = []
    real = receipts._master

    def counting(digits: bytes, pepper: bytes, params: ReceiptParams) -> bytes:
        ran.append(params)
        return real(digits, pepper, params)

    monkeypatch.setattr(receipts, "_master", counting)
    return ran


def _submit(db, blobs, versions: ReceiptVersions = PARAMS, pepper: bytes = PEPPER, **changes):
    with db() as session:
        return submit(session, blobs, pepper, form(**changes), [], TODAY, versions)


def _set_version(db, report_id: str, version: int) -> None:
    with db() as session:
        session.get(Report, report_id).receipt_version = version


def _another_code(code: str) -> str:
    digits = code.replace(" ", "")
    return digits[:-1] + str((int(digits[-1]) + 1) % 10)


def test_a_report_made_under_the_old_version_still_opens_and_its_thread_reads(db, org, blobs):
    old = _submit(db, blobs, OLD_SERVER, what="旧回执：食堂采购虚报价格。")
    new = _submit(db, blobs, what="新回执：车间主任私车公养。")
    with db() as session:
        assert session.get(Report, old.report_id).receipt_version == 1
        assert session.get(Report, new.report_id).receipt_version == 2
        report = session.get(Report, old.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        post_office_message(session, blobs, report, inspector, "请提供采购单据。", [], TODAY)
    with db() as session:
        for done in (old, new):
            opened = open_by_code(session, PEPPER, done.code, PARAMS)
            assert opened is not None and opened.report.id == done.report_id
        opened = open_by_code(session, PEPPER, old.code, PARAMS)
        reply(session, blobs, opened.report, opened.identity, "单据见附件说明。", [], TODAY)
    with db() as session:
        opened = open_by_code(session, PEPPER, old.code, PARAMS)
        texts = [m.text for m in thread(session, blobs, opened.report, opened.identity)]
        assert texts == ["请提供采购单据。", "单据见附件说明。"]


def test_a_code_of_the_server_before_the_lane_change_opens_at_production_cost(db, org, blobs):
    """Version 1 as production had it (64 MiB, 3 passes, 4 lanes): its codes still open."""
    before = ReceiptVersions({1: RECEIPT_VERSIONS[1]}, current=1)
    old = _submit(db, blobs, before, what="2026年12月的举报：仓库保管员倒卖废料。")
    with db() as session:
        opened = open_by_code(session, PEPPER, old.code, RECEIPT_VERSIONS)
        assert opened is not None and opened.report.id == old.report_id
        assert versions_in_use(session, RECEIPT_VERSIONS) == (1, 2)


def test_rows_from_before_versions_open_under_either_version(db, org, blobs):
    old = _submit(db, blobs, OLD_SERVER)
    new = _submit(db, blobs)
    for done in (old, new):
        _set_version(db, done.report_id, RECEIPT_VERSION_UNRECORDED)
    with db() as session:
        assert versions_in_use(session, PARAMS) == (1, 2)
        assert reports_by_version(session) == {0: 2}
        for done in (old, new):
            assert open_by_code(session, PEPPER, done.code, PARAMS).report.id == done.report_id


def test_every_code_entered_costs_every_version_in_use_whatever_it_opens(
    db, org, blobs, derivations
):
    old = _submit(db, blobs, OLD_SERVER, what="举报一")
    new = _submit(db, blobs, what="举报二")
    codes = {  # name: (code, opens)
        "old version's code": (old.code, True),
        "current version's code": (new.code, True),
        "a typo of a code": (_another_code(new.code), False),
        "never issued": ("0000 0000 0000 0000 0000", False),
    }
    with db() as session:
        for name, (code, opens) in codes.items():
            derivations.clear()
            assert (open_by_code(session, PEPPER, code, PARAMS) is not None) == opens, name
            assert derivations == [PARAMS[1], PARAMS[2]], name
        derivations.clear()
        assert open_by_code(session, b"another-installation-pepper!", new.code, PARAMS) is None
        assert derivations == [PARAMS[1], PARAMS[2]]

    # Once no report has version 1 any more, a code costs the current version alone.
    with db() as session:
        session.execute(delete(Report).where(Report.id == old.report_id))
    with db() as session:
        for code in (new.code, _another_code(new.code)):
            derivations.clear()
            open_by_code(session, PEPPER, code, PARAMS)
            assert derivations == [PARAMS[2]]


def test_a_malformed_code_costs_nothing(db, org, blobs, derivations):
    _submit(db, blobs, OLD_SERVER)
    derivations.clear()
    with db() as session:
        for malformed in ("", "1234", "一二三四", "9" * 10_000, "１２３４ ５６７８"):
            assert open_by_code(session, PEPPER, malformed, PARAMS) is None
    assert derivations == []


def test_the_versions_in_use_follow_the_stored_reports(db, org, blobs):
    with db() as session:
        assert versions_in_use(session, PARAMS) == (2,)  # the current version, always
        assert reports_by_version(session) == {}
    _submit(db, blobs)
    _submit(db, blobs)
    old = _submit(db, blobs, OLD_SERVER)
    newer = _submit(db, blobs, NEWER_SERVER)
    with db() as session:
        assert reports_by_version(session) == {1: 1, 2: 2, 3: 1}
        assert versions_in_use(session, PARAMS) == (1, 2)  # 3 cannot be derived here
        assert versions_in_use(session, NEWER_SERVER) == (1, 2, 3)
        assert unknown_versions(session, PARAMS) == [(newer.report_id, 3)]
        assert unknown_versions(session, NEWER_SERVER) == []
    with db() as session:
        session.execute(delete(Report).where(Report.id == old.report_id))
    with db() as session:
        assert versions_in_use(session, PARAMS) == (2,)


def test_a_report_of_a_version_this_server_does_not_know_is_named_by_fsck(db, org, blobs):
    newer = _submit(db, blobs, NEWER_SERVER, what="新版本服务器收到的举报")
    _submit(db, blobs)
    with db() as session:
        # Its code cannot be derived under version 3 here: it opens nothing, as a wrong code.
        assert open_by_code(session, PEPPER, newer.code, PARAMS) is None
        assert open_by_code(session, PEPPER, newer.code, NEWER_SERVER).report.id == newer.report_id
        result = fsck(session, blobs, receipt_versions=PARAMS)
        assert not result.ok
        assert result.unknown_receipt_versions == [(newer.report_id, 3)]
        assert fsck(session, blobs, receipt_versions=NEWER_SERVER).ok
    result = db.app.test_cli_runner().invoke(args=["reports", "fsck", "--dry-run"])
    assert result.exit_code == 1
    assert f"UNKNOWN RECEIPT VERSION 3 of report {newer.report_id}" in result.output
    assert "FAILED" in result.output


@pytest.mark.parametrize("stored", [7, 1])
def test_a_row_whose_stored_version_is_not_the_one_its_code_matches_is_refused(
    db, org, blobs, stored
):
    done = _submit(db, blobs, what="版本号被改动的举报")
    _set_version(db, done.report_id, stored)
    with db() as session:
        with pytest.raises(ReceiptVersionRefused) as refused:
            open_by_code(session, PEPPER, done.code, PARAMS)
        assert refused.value.stored == stored
        # Other codes are answered as before.
        assert open_by_code(session, PEPPER, _another_code(done.code), PARAMS) is None


def test_the_command_lists_the_reports_of_each_version(db, org, blobs):
    _submit(db, blobs, OLD_SERVER)
    _submit(db, blobs)
    _submit(db, blobs)
    unrecorded = _submit(db, blobs)
    _set_version(db, unrecorded.report_id, RECEIPT_VERSION_UNRECORDED)
    _submit(db, blobs, NEWER_SERVER)
    result = db.app.test_cli_runner().invoke(args=["reports", "receipt-versions"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines == [
        "version 1: Argon2id 64 KiB, 1 passes, 4 lane(s); 1 reports; "
        "derived for every code entered",
        "version 2 (current): Argon2id 64 KiB, 1 passes, 1 lane(s); 2 reports; "
        "derived for every code entered",
        "stored before versions were (migration 0009), version 1 or 2: 1",
        "version 3: UNKNOWN to this server; 1 reports (see fsck)",
        "A code entered at /report/follow-up costs 2 derivation(s).",
    ]


def test_the_command_names_a_version_that_is_not_a_number(db, org, blobs):
    # SQLite keeps a text in an integer column: a changed row must not stop the command.
    column_takes_text = db.app.config["DATABASE_URL"].startswith("sqlite")
    _submit(db, blobs)
    changed = _submit(db, blobs, what="版本号被改成文字的举报")
    with db() as session:
        value = "版本abc" if column_takes_text else 99
        session.execute(
            text("UPDATE reports SET receipt_version = :v WHERE id = :id"),
            {"v": value, "id": changed.report_id},
        )
    result = db.app.test_cli_runner().invoke(args=["reports", "receipt-versions"])
    assert result.exit_code == 0, result.output
    assert f"version {value}: UNKNOWN to this server; 1 reports (see fsck)" in result.output
