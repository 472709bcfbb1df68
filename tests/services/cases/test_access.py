"""Grant, recusal, transfer upward and re-grant by recovery: every header of a case rewritten,
every payload left byte for byte, and nobody given what they must not have."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from app.models import (
    CaseRecusal,
    DisciplineOffice,
    EnvelopeRole,
    ReaderRole,
    Report,
    ReportReader,
    Role,
    StaffUser,
)
from app.services.cases import access
from app.services.cases.access import (
    AccessRefused,
    CannotRead,
    KeysDoNotOpen,
    NoOfficeAbove,
    NotAReader,
    RecoveryRefused,
    grant,
    recuse,
    regrant_by_recovery,
    transfer_up,
    transferred_from,
)
from app.services.recovery import recovery_ceremony
from app.services.reports.messages import office_recipients
from crypto.keys import X25519Identity
from tests.helpers.cases import (
    add_staff,
    all_places,
    audit_lines,
    case_envelopes,
    make_case,
    opened_places,
    payload_digests,
)
from tests.helpers.reports import TODAY


def _user(session, org, name) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


def _identity_places(places: set[str]) -> set[str]:
    return {p for p in places if p.endswith(EnvelopeRole.identity.value)}


def _report_places(places: set[str]) -> set[str]:
    """The report's own text and files (not the thread, not the real name)."""
    return {p for p in places if ", message " not in p and not p.endswith("identity")}


@pytest.fixture
def case(db, org, blobs):
    return make_case(db, blobs, excluded=[org.staff["mch.insp2"]])


@pytest.fixture
def newcomer(db, org):
    """An inspector who joined MCH after the report arrived."""
    with db() as session:
        add_staff(session, org, "mch.new", "新任纪检员 马丽", "MCH")
    return org.keys["mch.new"]


# --- grant -----------------------------------------------------------------------------------


def test_a_grant_opens_every_file_but_the_real_name_and_leaves_payloads_alone(
    db, org, blobs, case, newcomer
):
    with db() as session:
        everything = all_places(session, case.report_id)
        before = payload_digests(session, blobs, case.report_id)
        assert opened_places(session, blobs, case.report_id, newcomer) == set()
        assert len(everything) == 8  # text, 2 files, real name; 2 messages with a file each
    with db() as session:
        report = session.get(Report, case.report_id)
        done = grant(
            session,
            report,
            [org.keys["mch.insp1"]],
            _user(session, org, "mch.insp1"),
            _user(session, org, "mch.new"),
        )
        # Every file but the real name, which an inspector never reads.
        assert (done.added, done.role, done.files) == (True, ReaderRole.inspector, 7)
    with db() as session:
        assert audit_lines(session, case.report_id) == [
            ("grant", "mch.insp1", "mch.new", "as inspector")
        ]
        assert payload_digests(session, blobs, case.report_id) == before  # byte for byte
        opened = opened_places(session, blobs, case.report_id, newcomer)
        assert opened == everything - _identity_places(everything)
        # Nobody lost anything: the readers, the recovery key, the reporter's thread.
        assert opened_places(session, blobs, case.report_id, org.keys["mch.insp1"]) == opened
        for key in (org.keys["mch.head"], org.recovery["MCH"]):
            assert opened_places(session, blobs, case.report_id, key) == everything
        reporter = opened_places(session, blobs, case.report_id, case.reporter)
        assert reporter == everything - _report_places(everything) - _identity_places(everything)
        # The one kept out by the reporter is still out of every file.
        assert opened_places(session, blobs, case.report_id, org.keys["mch.insp2"]) == set()
        # And the newcomer gets the next office message too.
        report = session.get(Report, case.report_id)
        assert newcomer.recipient in office_recipients(session, report)


def test_a_head_granted_the_case_opens_the_real_name(db, org, blobs, case):
    with db() as session:
        add_staff(session, org, "mch.head2", "副书记 韩梅", "MCH", (Role.office_head,))
    with db() as session:
        report = session.get(Report, case.report_id)
        head = _user(session, org, "mch.head2")
        done = grant(session, report, [org.keys["mch.head"]], _user(session, org, "mch.head"), head)
        assert done.role == ReaderRole.office_head
    with db() as session:
        everything = all_places(session, case.report_id)
        assert opened_places(session, blobs, case.report_id, org.keys["mch.head2"]) == everything


def test_a_grant_to_a_reader_with_a_new_key_opens_the_case_for_that_key(db, org, blobs, case):
    fresh = X25519Identity.generate()  # after a password reset
    with db() as session:
        _user(session, org, "mch.insp1").age_recipient = str(fresh.recipient)
    with db() as session:
        assert opened_places(session, blobs, case.report_id, fresh) == set()
        report = session.get(Report, case.report_id)
        done = grant(
            session,
            report,
            [org.keys["mch.head"]],
            _user(session, org, "mch.head"),
            _user(session, org, "mch.insp1"),
        )
        assert done.added is False
    with db() as session:
        everything = all_places(session, case.report_id)
        opened = opened_places(session, blobs, case.report_id, fresh)
        assert opened == everything - _identity_places(everything)
        assert opened_places(session, blobs, case.report_id, org.keys["mch.insp1"]) == set()


@pytest.mark.parametrize(
    ("grantee", "says"),
    [
        ("mch.insp2", "kept out of this case by the reporter"),
        ("grp.insp1", "not a member of the office"),
        ("mch.gone", "disabled"),
        ("mch.publisher", "neither an inspector nor an office head"),
        ("mch.nokey", "has no key yet"),
    ],
)
def test_a_grant_to_one_who_may_not_read_is_refused_and_changes_nothing(
    db, org, blobs, case, grantee, says
):
    with db() as session:
        add_staff(session, org, "mch.nokey", "新任纪检员 无密钥", "MCH", keyed=False)
    with db() as session:
        headers = {e.id: e.header for e in case_envelopes(session, case.report_id)}
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(CannotRead) as refused:
            grant(
                session,
                report,
                [org.keys["mch.insp1"]],
                _user(session, org, "mch.insp1"),
                _user(session, org, grantee),
            )
        assert says in str(refused.value)
        assert _user(session, org, grantee).display_name in str(refused.value)
        session.rollback()
    with db() as session:
        assert {e.id: e.header for e in case_envelopes(session, case.report_id)} == headers
        assert audit_lines(session) == []
        readers = session.scalars(
            select(ReportReader.staff_id).where(ReportReader.report_id == case.report_id)
        )
        assert org.staff[grantee] not in set(readers)


def test_refusals_are_phrased_in_chinese_by_default(db, org, blobs, case, sheets):
    with db() as session, db.app.test_request_context("/"):
        report = session.get(Report, case.report_id)
        with pytest.raises(CannotRead) as refused:
            grant(
                session,
                report,
                [org.keys["mch.insp1"]],
                _user(session, org, "mch.insp1"),
                _user(session, org, "mch.insp2"),
            )
        assert str(refused.value) == "举报人已要求 机械纪检员 何丽 回避本案，不能向其授权。"
        mistyped = sheets["MCH"][1].split()
        mistyped[2] = "zzzz"
        with pytest.raises(RecoveryRefused) as refused:
            regrant_by_recovery(
                session,
                session.get(DisciplineOffice, org.offices["MCH"]),
                [sheets["MCH"][0], " ".join(mistyped)],
                [report],
                _user(session, org, "mch.insp1"),
                [_user(session, org, n) for n in ("mch.head", "mch.insp1")],
            )
        assert str(refused.value) == "第 2 份分片的第 3 个单词不是恢复词表中的单词，请检查拼写。"


@pytest.mark.parametrize("granter", ["mch.insp2", "grp.head", "mch.gone"])
def test_only_a_reader_of_the_case_grants_it(db, org, blobs, case, newcomer, granter):
    with db() as session:
        report = session.get(Report, case.report_id)
        with pytest.raises(NotAReader):
            grant(
                session,
                report,
                [org.keys[granter]],
                _user(session, org, granter),
                _user(session, org, "mch.new"),
            )


def test_keys_that_do_not_open_every_file_refuse_the_whole_grant(db, org, blobs, case, newcomer):
    with db() as session:
        headers = {e.id: e.header for e in case_envelopes(session, case.report_id)}
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(KeysDoNotOpen) as refused:
            grant(
                session,
                report,
                [X25519Identity.generate()],  # the granter's old key, say
                _user(session, org, "mch.insp1"),
                _user(session, org, "mch.new"),
            )
        assert "does not open file 1 of the report" in str(refused.value)
        session.rollback()
    with db() as session:
        assert {e.id: e.header for e in case_envelopes(session, case.report_id)} == headers
        assert opened_places(session, blobs, case.report_id, newcomer) == set()


def test_with_a_reporter_copy_the_report_stays_readable_by_the_reporter(
    db, org, blobs, case, newcomer
):
    with db() as session:
        session.get(Report, case.report_id).reporter_copy = True
    with db() as session:
        report = session.get(Report, case.report_id)
        grant(
            session,
            report,
            [org.keys["mch.insp1"]],
            _user(session, org, "mch.insp1"),
            _user(session, org, "mch.new"),
        )
    with db() as session:
        everything = all_places(session, case.report_id)
        reporter = opened_places(session, blobs, case.report_id, case.reporter)
        # The report's text and files and the thread; never the real-name block.
        assert reporter == everything - _identity_places(everything)


# --- recusal ---------------------------------------------------------------------------------


def test_a_recused_inspector_opens_nothing_and_is_never_given_the_case_again(db, org, blobs, case):
    with db() as session:
        before = payload_digests(session, blobs, case.report_id)
        report = session.get(Report, case.report_id)
        inspector = _user(session, org, "mch.insp1")
        assert (
            recuse(session, report, [org.keys["mch.insp1"]], inspector, TODAY) == 7
        )  # all but the real name, which they never read
    with db() as session:
        assert opened_places(session, blobs, case.report_id, org.keys["mch.insp1"]) == set()
        everything = all_places(session, case.report_id)
        assert opened_places(session, blobs, case.report_id, org.keys["mch.head"]) == everything
        assert opened_places(session, blobs, case.report_id, org.recovery["MCH"]) == everything
        assert payload_digests(session, blobs, case.report_id) == before
        assert audit_lines(session, case.report_id) == [("recusal", "mch.insp1", None, "")]
        recusal = session.get(CaseRecusal, (case.report_id, org.staff["mch.insp1"]))
        assert recusal is not None and recusal.recused_on == TODAY
        report = session.get(Report, case.report_id)
        assert org.keys["mch.insp1"].recipient not in office_recipients(session, report)
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(CannotRead, match="declared a conflict of interest"):
            grant(
                session,
                report,
                [org.keys["mch.head"]],
                _user(session, org, "mch.head"),
                _user(session, org, "mch.insp1"),
            )
        with pytest.raises(NotAReader):  # nor can they act on it any more
            recuse(
                session, report, [org.keys["mch.insp1"]], _user(session, org, "mch.insp1"), TODAY
            )


def test_the_last_reader_cannot_recuse_before_a_colleague_is_granted(db, org, blobs, case):
    with db() as session:
        report = session.get(Report, case.report_id)
        recuse(session, report, [org.keys["mch.head"]], _user(session, org, "mch.head"), TODAY)
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(AccessRefused, match="Nobody else in the office reads this case"):
            recuse(
                session, report, [org.keys["mch.insp1"]], _user(session, org, "mch.insp1"), TODAY
            )


# --- transfer upward -------------------------------------------------------------------------


def test_a_transfer_gives_the_case_to_the_office_above_and_leaves_one_line_below(
    db, org, blobs, case
):
    with db() as session:
        before = payload_digests(session, blobs, case.report_id)
        report = session.get(Report, case.report_id)
        line = transfer_up(
            session, report, [org.keys["mch.head"]], _user(session, org, "mch.head"), TODAY
        )
        assert (line.from_office_id, line.to_office_id) == (org.offices["MCH"], org.offices["GRP"])
    with db() as session:
        everything = all_places(session, case.report_id)
        identity = _identity_places(everything)
        report = session.get(Report, case.report_id)
        assert report.office.unit.code == "GRP"
        assert {r.staff_id: r.role for r in report.readers} == {
            org.staff["grp.insp1"]: ReaderRole.inspector,
            org.staff["grp.insp2"]: ReaderRole.inspector,
            org.staff["grp.head"]: ReaderRole.office_head,
        }
        for name in ("grp.insp1", "grp.insp2"):
            assert opened_places(session, blobs, case.report_id, org.keys[name]) == (
                everything - identity
            )
        for key in (org.keys["grp.head"], org.recovery["GRP"]):
            assert opened_places(session, blobs, case.report_id, key) == everything
        # The lower office lost it all, its recovery key too.
        for key in (org.keys["mch.insp1"], org.keys["mch.head"], org.recovery["MCH"]):
            assert opened_places(session, blobs, case.report_id, key) == set()
        reporter = opened_places(session, blobs, case.report_id, case.reporter)
        assert reporter == everything - _report_places(everything) - identity
        assert payload_digests(session, blobs, case.report_id) == before
        # One line in the lower office's inbox, none in the group's.
        (shown,) = transferred_from(session, org.offices["MCH"])
        assert (shown.report_id, shown.to_office.name_zh, shown.transferred_on) == (
            case.report_id,
            "华夏能源集团有限公司纪委",
            TODAY,
        )
        assert transferred_from(session, org.offices["GRP"]) == []
        assert audit_lines(session, case.report_id) == [
            ("transfer", "mch.head", None, "from office MCH to office GRP")
        ]


def test_one_the_reporter_kept_out_above_is_not_given_the_case_on_transfer(db, org, blobs):
    case = make_case(db, blobs, excluded=[org.staff["grp.insp1"]])
    with db() as session:
        report = session.get(Report, case.report_id)
        assert report.office.unit.code == "MCH"
        transfer_up(session, report, [org.keys["mch.head"]], _user(session, org, "mch.head"), TODAY)
    with db() as session:
        report = session.get(Report, case.report_id)
        assert org.staff["grp.insp1"] not in {r.staff_id for r in report.readers}
        assert opened_places(session, blobs, case.report_id, org.keys["grp.insp1"]) == set()
        assert opened_places(session, blobs, case.report_id, org.keys["grp.insp2"])


def test_the_group_office_has_nobody_to_transfer_to(db, org, blobs):
    case = make_case(db, blobs, unit_code="GRP-FIN")
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        assert report.office.unit.code == "GRP"
        with pytest.raises(NoOfficeAbove, match="has no office above it"):
            transfer_up(
                session, report, [org.keys["grp.head"]], _user(session, org, "grp.head"), TODAY
            )
        session.rollback()
    with db() as session:
        assert transferred_from(session, org.offices["GRP"]) == []


def test_only_a_head_of_the_office_transfers_a_case(db, org, blobs, case):
    with db() as session, db.app.test_request_context("/?lang=en"):
        report = session.get(Report, case.report_id)
        with pytest.raises(NotAReader, match="Only a head"):
            transfer_up(
                session, report, [org.keys["mch.insp1"]], _user(session, org, "mch.insp1"), TODAY
            )
        with pytest.raises(NotAReader):
            transfer_up(
                session, report, [org.keys["grp.head"]], _user(session, org, "grp.head"), TODAY
            )


# --- re-grant by the recovery key ---------------------------------------------------------------


@pytest.fixture
def sheets(db, org):
    """MCH's and GRP's recovery keys made anew at a ceremony (2 of 3), before the case."""
    lines = {}
    with db() as session:
        for code in ("MCH", "GRP"):
            office = session.get(DisciplineOffice, org.offices[code])
            made = recovery_ceremony(
                session, office, 2, 3, ["张伟", "王敏", "刘洋"], TODAY, replace=True
            )
            lines[code] = [" ".join(sheet.words) for sheet in made]
    return lines


@pytest.fixture
def reset_case(db, org, blobs, sheets):
    """A case whose inspector then had a password reset: a new key that opens none of it."""
    case = make_case(db, blobs, excluded=[org.staff["mch.insp2"]])
    other = make_case(db, blobs)
    fresh = X25519Identity.generate()
    with db() as session:
        _user(session, org, "mch.insp1").age_recipient = str(fresh.recipient)
    return case, other, fresh


def test_k_shares_re_open_the_chosen_cases_for_an_inspector_with_a_new_key(
    db, org, blobs, sheets, reset_case
):
    case, other, fresh = reset_case  # ``other`` is not chosen
    with db() as session:
        before = payload_digests(session, blobs, case.report_id)
        office = session.get(DisciplineOffice, org.offices["MCH"])
        report = session.get(Report, case.report_id)
        done = regrant_by_recovery(
            session,
            office,
            [sheets["MCH"][2], "  " + sheets["MCH"][0].upper()],
            [report],
            _user(session, org, "mch.insp1"),
            [_user(session, org, "mch.head"), _user(session, org, "mch.insp2")],
        )
        assert done.report_ids == (case.report_id,)
        assert done.participants == tuple(sorted([org.staff["mch.head"], org.staff["mch.insp2"]]))
    with db() as session:
        detail = "re-grant by 2 officers of office MCH"
        assert audit_lines(session) == [
            ("recovery", "mch.insp2", "mch.insp1", detail),  # by staff id: 5, then 6
            ("recovery", "mch.head", "mch.insp1", detail),
        ]
        assert not any(isinstance(value, X25519Identity) for value in vars(done).values())
    with db() as session:
        everything = all_places(session, case.report_id)
        assert opened_places(session, blobs, case.report_id, fresh) == (
            everything - _identity_places(everything)
        )
        assert opened_places(session, blobs, other.report_id, fresh) == set()
        assert payload_digests(session, blobs, case.report_id) == before


def _typo(share: str, position: int) -> tuple[str, str]:
    words = share.split()
    wrong = words[position - 1][:-1] + ("q" if words[position - 1][-1] != "q" else "z")
    words[position - 1] = wrong
    return " ".join(words), wrong


def test_wrong_foreign_or_too_few_shares_are_refused_by_number_never_by_word(
    db, org, blobs, sheets, reset_case
):
    case, _other, fresh = reset_case
    mch, grp = sheets["MCH"], sheets["GRP"]
    mistyped, wrong_word = _typo(mch[1], 7)
    attempts = [
        ([mch[0], mistyped], "not_a_word", "Share 2, word 7 is not a recovery word"),
        ([mch[0], grp[1]], "foreign", "Share 2 is not a share of the recovery key of"),
        ([grp[0], grp[1]], "foreign", "Share 1 is not a share"),
        ([mch[0]], "too_few", "needs 2 shares and 1 were entered"),
        ([mch[0], mch[0]], "duplicate", "Share 2 is the same as share 1"),
    ]
    for typed, reason, says in attempts:
        with db() as session, db.app.test_request_context("/?lang=en"):
            officers = [_user(session, org, n) for n in ("mch.head", "mch.insp2")]
            office = session.get(DisciplineOffice, org.offices["MCH"])
            report = session.get(Report, case.report_id)
            with pytest.raises(RecoveryRefused) as refused:
                regrant_by_recovery(
                    session, office, typed, [report], _user(session, org, "mch.insp1"), officers
                )
            message = str(refused.value.message)
            assert refused.value.reason == reason and says in message, message
            for share in typed:
                assert not set(share.split()) & set(message.split()), message
            assert wrong_word not in message
            session.rollback()
    with db() as session:
        assert opened_places(session, blobs, case.report_id, fresh) == set()


def test_a_re_grant_never_reaches_a_case_of_another_office_or_a_kept_out_grantee(
    db, org, blobs, sheets, reset_case
):
    case, _other, _fresh = reset_case
    elsewhere = make_case(db, blobs, unit_code="GRP-FIN")
    with db() as session, db.app.test_request_context("/?lang=en"):
        officers = [_user(session, org, n) for n in ("mch.head", "mch.insp1")]
        office = session.get(DisciplineOffice, org.offices["MCH"])
        theirs = session.get(Report, elsewhere.report_id)
        inspector = _user(session, org, "mch.insp1")
        with pytest.raises(AccessRefused, match="not a case of"):
            regrant_by_recovery(session, office, sheets["MCH"][:2], [theirs], inspector, officers)
        report = session.get(Report, case.report_id)
        with pytest.raises(CannotRead, match="kept out of this case by the reporter"):
            regrant_by_recovery(
                session,
                office,
                sheets["MCH"][:2],
                [report],
                _user(session, org, "mch.insp2"),
                officers,
            )


@pytest.mark.parametrize(
    "who",
    [["mch.head"], ["mch.head", "mch.head"], ["mch.head", "grp.head"], ["mch.head", "mch.gone"]],
    ids=["one", "one-twice", "one-of-another-office", "one-disabled"],
)
def test_one_officer_alone_re_opens_nothing_even_with_every_share(
    db, org, blobs, sheets, reset_case, who
):
    case, _other, fresh = reset_case
    with db() as session, db.app.test_request_context("/?lang=en"):
        office = session.get(DisciplineOffice, org.offices["MCH"])
        report = session.get(Report, case.report_id)
        with pytest.raises(AccessRefused, match="needs 2 officers of the office") as refused:
            regrant_by_recovery(
                session,
                office,
                sheets["MCH"],
                [report],
                _user(session, org, "mch.insp1"),
                [_user(session, org, name) for name in who],
            )
        assert not isinstance(refused.value, RecoveryRefused)
        session.rollback()
    with db() as session:
        assert opened_places(session, blobs, case.report_id, fresh) == set()
        assert audit_lines(session) == []


# --- two changes at once ---------------------------------------------------------------------


def test_two_grants_at_the_same_moment_both_hold(db, org, blobs, case, monkeypatch):
    with db() as session:
        add_staff(session, org, "mch.new", "新任纪检员 马丽", "MCH")
        add_staff(session, org, "mch.new2", "新任纪检员 高翔", "MCH")
    # Both grants have read the case before either claims it.
    both_ready = threading.Barrier(2, timeout=10)
    claim = access._claim

    def claim_together(session, report):
        both_ready.wait()
        claim(session, report)

    monkeypatch.setattr(access, "_claim", claim_together)
    errors: list[BaseException] = []

    def grant_to(name: str, granter: str) -> None:
        try:
            with db() as session:
                report = session.get(Report, case.report_id)
                for envelope in report.envelopes:  # the headers are loaded now
                    assert envelope.header
                grant(
                    session,
                    report,
                    [org.keys[granter]],
                    _user(session, org, granter),
                    _user(session, org, name),
                )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=grant_to, args=("mch.new", "mch.insp1")),
        threading.Thread(target=grant_to, args=("mch.new2", "mch.head")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db() as session:
        everything = all_places(session, case.report_id)
        for name in ("mch.new", "mch.new2"):
            opened = opened_places(session, blobs, case.report_id, org.keys[name])
            assert opened == everything - _identity_places(everything), name


def test_the_transfer_line_is_not_shown_to_whoever_was_kept_out_or_recused(db, org, blobs):
    kept_out = make_case(db, blobs, excluded=[org.staff["mch.insp2"]])
    recused = make_case(db, blobs)
    with db() as session:
        report = session.get(Report, recused.report_id)
        inspector = _user(session, org, "mch.insp1")
        recuse(session, report, [org.keys["mch.insp1"]], inspector, TODAY)
    with db() as session:
        head = _user(session, org, "mch.head")
        for case in (kept_out, recused):
            transfer_up(
                session, session.get(Report, case.report_id), [org.keys["mch.head"]], head, TODAY
            )
    with db() as session:

        def shown(name: str) -> set[str]:
            lines = transferred_from(session, org.offices["MCH"], _user(session, org, name))
            return {line.report_id for line in lines}

        assert shown("mch.head") == {kept_out.report_id, recused.report_id}
        # Kept out by the reporter: never learns the case existed, nor where it went.
        assert shown("mch.insp2") == {recused.report_id}
        assert shown("mch.insp1") == {kept_out.report_id}
