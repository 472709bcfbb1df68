"""Keys reports are encrypted to: staff identities under passwords, office recovery keys."""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest
from sqlalchemy import select, text

from app.db import Base, utcnow
from app.models import StaffUser
from app.services import enrolment, keys, recovery, units
from app.services import staff as staff_service
from app.services.demo import DEMO_LOGINS
from crypto import X25519Identity, decrypt_bytes, encrypt_bytes
from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

SEAL = TEST_SEAL_PARAMS
PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
CEREMONY_DAY = date(2026, 3, 8)


@pytest.fixture
def session(db, demo):
    with db() as session:
        yield session


def user(session, username: str) -> StaffUser:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def add_staff(
    session, username, name, roles, office_code=None, password="足够长的密码 long enough"
):
    office = units.office_by_unit_code(session, office_code) if office_code else None
    return staff_service.create_user(
        session,
        username,
        name,
        password,
        roles,
        office=office,
        seal_params=SEAL,
    )


def opens(identity: X25519Identity, recipients) -> bool:
    """Whether ``identity`` reads a report encrypted to ``recipients``."""
    sealed = encrypt_bytes("举报内容：采购围标".encode(), recipients)
    try:
        return decrypt_bytes(sealed, [identity]).decode() == "举报内容：采购围标"
    except Exception:
        return False


def new_ceremony(session, code="MCH", threshold=2, count=3, holders=("张伟", "李娜", "王芳")):
    office = units.office_by_unit_code(session, code)
    return office, recovery.recovery_ceremony(
        session, office, threshold, count, list(holders), CEREMONY_DAY, replace=True
    )


def typed(sheet: recovery.ShareSheet) -> str:
    return " ".join(sheet.words)


# --- the demo -------------------------------------------------------------------------------


def test_every_demo_office_has_an_inspector_a_head_and_a_recovery_key(session):
    overview = keys.keys_overview(session)
    assert [item.office.unit.code for item in overview] == ["CHM", "GRP", "MCH"]
    for item in overview:
        assert any(u.has_role(keys.Role.inspector) for u in item.readers), item.office.name_zh
        assert item.heads, item.office.name_zh
        assert item.waiting == []
        assert item.office.recovery_threshold == 2 and item.office.recovery_shares == 3
        assert item.recovery is not None
        assert len(item.recipients()) == len(item.readers) + 1


def test_demo_keys_open_with_the_demo_passwords_only(session):
    for username in ("inspector", "head", "mch.inspector", "mch.head", "chm.inspector"):
        account = user(session, username)
        identity = keys.unseal(account, PASSWORDS[username], SEAL)
        assert str(identity.recipient) == account.age_recipient
        assert "AGE-SECRET-KEY" not in account.sealed_identity
        with pytest.raises(keys.WrongPassword):
            keys.unseal(account, PASSWORDS["admin"], SEAL)
    for username in ("admin", "publisher", "approver", "auditor", "congress"):
        assert user(session, username).age_recipient is None


# --- accounts -------------------------------------------------------------------------------


def test_new_inspector_gets_a_sealed_key_and_a_publisher_none(session):
    inspector = add_staff(session, "zhang.wei", "纪检员 张伟", ["inspector"], "CHM")
    publisher = add_staff(session, "li.na", "公开专员 李娜", ["publisher"])
    assert inspector.age_recipient.startswith("age1")
    assert keys.unseal(inspector, "足够长的密码 long enough", SEAL).recipient == (
        keys.X25519Recipient.parse(inspector.age_recipient)
    )
    assert publisher.age_recipient is None and publisher.sealed_identity is None
    chm = units.office_by_unit_code(session, "CHM")
    assert "zhang.wei" in [u.username for u in keys.office_readers(session, chm).readers]


def test_an_office_head_needs_an_office(session):
    with pytest.raises(staff_service.StaffError, match="office head belongs to a discipline"):
        add_staff(session, "zhou.qiang", "周强", ["office_head"])


def enrol(session, account, password: str) -> enrolment.Enrolled:
    """An administrator's code, then the owner's enrolment with ``password``."""
    issued = enrolment.issue_code(session, account, utcnow())
    pending = enrolment.start(session, account.username, issued.code, utcnow())
    code = staff_service.totp_now(pending.pending_totp_secret)
    return enrolment.finish(session, pending, password, code, seal_params=SEAL)


def test_owner_changing_the_password_keeps_the_key(session):
    account = user(session, "mch.inspector")
    before = account.age_recipient
    change = staff_service.change_password(
        session, account, PASSWORDS["mch.inspector"], "刘洋的新密码 new one here", seal_params=SEAL
    )
    assert change is keys.KeyChange.kept
    assert account.age_recipient == before
    assert str(keys.unseal(account, "刘洋的新密码 new one here", SEAL).recipient) == before
    with pytest.raises(keys.WrongPassword):
        keys.unseal(account, PASSWORDS["mch.inspector"], SEAL)


def test_owner_must_give_the_current_password(session):
    account = user(session, "mch.inspector")
    with pytest.raises(staff_service.CurrentPasswordWrong):
        staff_service.change_password(
            session, account, "猜的 guess", "刘洋的新密码 new one here", seal_params=SEAL
        )
    assert keys.unseal(account, PASSWORDS["mch.inspector"], SEAL)


def test_admin_reset_makes_a_new_key_that_cannot_read_old_reports(session):
    account = user(session, "chm.inspector")
    old_identity = keys.unseal(account, PASSWORDS["chm.inspector"], SEAL)
    chm = units.office_by_unit_code(session, "CHM")
    old_recipients = keys.office_readers(session, chm).recipients()
    issued = enrolment.issue_code(session, account, utcnow())
    assert issued.reset and issued.key_change is keys.KeyChange.removed
    # Until its owner enrols, the account has no key and reads nothing new.
    assert account.sealed_identity is None
    assert "chm.inspector" in [u.username for u in keys.office_readers(session, chm).waiting]
    with pytest.raises(staff_service.LoginFailed):
        staff_service.authenticate(
            session, "chm.inspector", PASSWORDS["chm.inspector"], "000000", seal_params=SEAL
        )
    pending = enrolment.start(session, "chm.inspector", issued.code, utcnow())
    done = enrolment.finish(
        session,
        pending,
        "重置后自己选的密码 mine",
        staff_service.totp_now(pending.pending_totp_secret),
        seal_params=SEAL,
    )
    assert done.reset
    new_identity = keys.unseal(account, "重置后自己选的密码 mine", SEAL)
    assert [i.recipient for i in done.identities] == [new_identity.recipient]
    assert new_identity.recipient != old_identity.recipient
    assert opens(old_identity, old_recipients)
    assert not opens(new_identity, old_recipients)  # needs a grant or the recovery key
    assert opens(new_identity, keys.office_readers(session, chm).recipients())


def test_admin_reset_of_an_account_that_reads_no_reports(session):
    account = user(session, "publisher")
    issued = enrolment.issue_code(session, account, utcnow())
    assert issued.reset and issued.key_change is keys.KeyChange.none
    assert account.sealed_identity is None and not staff_service.has_password(account)
    done = enrol(session, account, "公开专员新密码 renewed")
    assert done.identities == [] and account.sealed_identity is None


def test_new_role_leaves_the_account_visibly_without_a_key_until_it_signs_in(session):
    account = user(session, "mch.publisher")
    mch = units.office_by_unit_code(session, "MCH")
    change = staff_service.set_roles(session, account, ["inspector"], office=mch)
    assert change is keys.KeyChange.missing
    item = keys.office_readers(session, mch)
    assert [u.username for u in item.waiting] == ["mch.publisher"]
    assert "mch.publisher" not in [u.username for u in item.readers]
    # Its owner's next sign-in makes the key, sealed under the owner's own password.
    login = next(login for login in DEMO_LOGINS if login.username == "mch.publisher")
    signed = staff_service.authenticate(
        session,
        "mch.publisher",
        login.password,
        staff_service.totp_now(login.totp_secret),
        seal_params=SEAL,
    )
    assert [str(i.recipient) for i in signed.identities] == [account.age_recipient]
    assert keys.unseal(account, PASSWORDS["mch.publisher"], SEAL)
    item = keys.office_readers(session, mch)
    assert item.waiting == [] and "mch.publisher" in [u.username for u in item.readers]


def test_readers_leave_out_the_disabled_the_excluded_and_those_without_the_role(session):
    grp = units.office_by_unit_code(session, "GRP")
    assert [u.username for u in keys.office_readers(session, grp).readers] == [
        "head",
        "inspector",
    ]
    inspector = user(session, "inspector")
    only_head = keys.office_readers(session, grp, exclude={inspector.id})
    assert [u.username for u in only_head.readers] == ["head"]
    identity = keys.unseal(inspector, PASSWORDS["inspector"], SEAL)
    assert not opens(identity, only_head.recipients())
    staff_service.set_active(session, "head", False)
    staff_service.set_roles(session, inspector, ["publisher"])
    nobody = keys.office_readers(session, grp)
    assert nobody.readers == [] and len(nobody.recipients()) == 1  # the recovery key
    grp.recovery_recipient = None
    with pytest.raises(keys.NoReaders, match="GRP"):
        nobody.recipients()


# --- recovery keys --------------------------------------------------------------------------


def test_ceremony_stores_only_the_public_key_and_any_two_shares_recover_it(session):
    office, sheets = new_ceremony(session)
    assert [s.holder for s in sheets] == ["张伟", "李娜", "王芳"]
    assert office.recovery_made_on == CEREMONY_DAY
    assert office.recovery_set_id == sheets[0].set_id
    assert office.recovery_recipient == sheets[0].recipient
    for pair in itertools.combinations(sheets, 2):
        identity = recovery.recover_office_identity(office, [typed(s) for s in pair])
        assert str(identity.recipient) == office.recovery_recipient
        assert opens(identity, keys.office_readers(session, office).recipients())


def test_share_sheet_says_whose_it_is_and_numbers_the_words(session):
    _, sheets = new_ceremony(session, "CHM", 3, 4, ["黄磊", "郑洁", "李娜", "张伟"])
    sheet = sheets[1].text()
    for expected in (
        "Recovery share 2 of 4",
        "华夏精细化工有限公司纪委",
        "Discipline Committee, Huaxia Fine Chemicals Co., Ltd. (CHM)",
        "Holder:     郑洁",
        "3 of 4 shares",
        "2026-03-08",
        f" 1. {sheets[1].words[0]}",
        f"33. {sheets[1].words[32]}",
    ):
        assert expected in sheet
    # The words stay out of its repr (a log line, a traceback). Whole words: "numb", a share
    # word, is in "number", a field's name.
    shown = repr(sheets[1])
    assert [w for w in sheets[1].words if re.search(rf"(?<![a-z]){w}(?![a-z])", shown)] == []


def test_ceremony_refusals(session):
    office = units.office_by_unit_code(session, "GRP")
    before = office.recovery_recipient
    cases = [
        (3, 2, None, "cannot be more than the number of shares"),
        (0, 3, None, "at least 2"),
        (1, 3, None, "at least 2"),
        (2, 17, None, "at most 16 shares"),
        (2, 3, ["张伟", "李娜"], "3 shares need 3 holder names; 2 given"),
        (2, 3, None, "has a recovery key already"),
    ]
    for threshold, count, holders, message in cases:
        with pytest.raises(recovery.RecoveryError, match=message):
            recovery.recovery_ceremony(session, office, threshold, count, holders, CEREMONY_DAY)
    assert office.recovery_recipient == before


def test_holder_names_take_chinese_separators():
    assert recovery.parse_holders("张伟，李娜、王芳, Wang Fang") == [
        "张伟",
        "李娜",
        "王芳",
        "Wang Fang",
    ]
    with pytest.raises(recovery.RecoveryError, match="empty"):
        recovery.parse_holders("张伟,,李娜")


def test_recovery_names_the_share_that_is_wrong(session):
    office, sheets = new_ceremony(session)
    with pytest.raises(recovery.RecoveryError, match="needs 2 shares and 1 was entered"):
        recovery.recover_office_identity(office, [typed(sheets[0]), "  "])
    words = list(sheets[1].words)
    words[6] = words[6][:-1] + ("x" if words[6][-1] != "x" else "y")
    with pytest.raises(recovery.RecoveryError, match=r"Share 2, word 7 .* not a recovery word"):
        recovery.recover_office_identity(office, [typed(sheets[0]), " ".join(words)])
    _, other_office = new_ceremony(session, "GRP")
    with pytest.raises(recovery.RecoveryError, match=r"Share 2 is not a share of .* MCH"):
        recovery.recover_office_identity(office, [typed(sheets[0]), typed(other_office[1])])


def test_replaced_set_shares_are_refused_by_set(session):
    office, old = new_ceremony(session)
    _, new = new_ceremony(session)
    with pytest.raises(recovery.RecoveryError, match=f"set {old[0].set_id}; this office's is set"):
        recovery.recover_office_identity(office, [typed(old[0]), typed(old[1])])
    assert recovery.recover_office_identity(office, [typed(new[0]), typed(new[2])])


def test_shares_as_copied_from_the_sheet_or_typed_full_width(session):
    office, sheets = new_ceremony(session)
    numbered = " ".join(f"{n}. {w}" for n, w in enumerate(sheets[0].words, start=1))
    full_width = "\u3000".join(w.upper() for w in sheets[2].words).translate(
        {c: c + 0xFEE0 for c in range(ord("A"), ord("Z") + 1)}
    )
    identity = recovery.recover_office_identity(office, [numbered, full_width])
    assert str(identity.recipient) == office.recovery_recipient


def test_no_table_holds_an_unsealed_key(db, demo):
    with db() as session:
        enrol(session, user(session, "head"), "新的书记密码 new password")
        new_ceremony(session)
    with db() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(text(f'SELECT * FROM "{table.name}"')):
                assert "AGE-SECRET-KEY" not in str(row).upper(), table.name


def test_of_two_ceremonies_at_once_only_one_stores_its_key(db, demo):
    """Both admins saw no key (or the same key); the second to store is refused."""
    with db() as first, db() as second:
        mine = units.office_by_unit_code(first, "CHM")
        theirs = units.office_by_unit_code(second, "CHM")
        assert mine.recovery_recipient == theirs.recovery_recipient
        _, stored = new_ceremony(second, "CHM")
        second.commit()
        with pytest.raises(recovery.RecoveryError, match="another ceremony for CHM stored its key"):
            recovery.recovery_ceremony(first, mine, 2, 3, None, CEREMONY_DAY, replace=True)
        first.rollback()
    with db() as session:
        kept = units.office_by_unit_code(session, "CHM")
        assert kept.recovery_recipient == stored[0].recipient
