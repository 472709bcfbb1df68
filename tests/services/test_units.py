"""The unit tree: the questions the listings, the console and report routing ask of it."""

from __future__ import annotations

import pytest

from app.models import Unit, UnitKind
from app.services import units


@pytest.fixture
def session(console_app, demo):
    with console_app.extensions["portal.db"].session() as session:
        yield session


def codes(session, ids) -> set[str]:
    return {session.get(Unit, id_).code for id_ in ids}


def test_lookups_by_code(session):
    assert units.by_code(session, "MCH").name_zh == "华夏重型机械有限公司"
    assert units.by_code(session, "重型机械") is None
    assert units.office_by_unit_code(session, "CHM").unit.code == "CHM"
    assert units.office_by_unit_code(session, "CHM-W1") is None  # a workshop has no office
    assert [u.code for u in units.roots(session)] == ["GRP"]
    assert [u.code for u in units.all_units(session)] == sorted(units.codes_to_ids(session))


def test_a_subtree_holds_the_unit_and_everything_below_it(session):
    mch = units.by_code(session, "MCH")
    assert codes(session, units.subtree_ids(session, mch)) == {"MCH", "MCH-W1", "MCH-W2", "MCH-PUR"}
    everything = units.subtree_ids(session, units.by_code(session, "GRP"))
    assert len(everything) == len(units.all_units(session))


def test_a_chain_runs_from_the_unit_up_to_the_enterprise(session):
    assert codes(session, units.chain_ids(session, "MCH-W1")) == {"MCH-W1", "MCH", "GRP"}
    assert units.chain_ids(session, "NOWHERE") == []
    assert units.chain_ids(session, None) == []


def test_the_nearest_discipline_office_is_the_units_own_or_its_closest_ancestors(session):
    workshop = units.by_code(session, "MCH-W2")
    assert units.nearest_office(workshop).unit.code == "MCH"
    assert units.nearest_office(units.by_code(session, "GRP-HR")).unit.code == "GRP"
    assert units.nearest_office(units.by_code(session, "CHM")).unit.code == "CHM"
    # A new unit under a workshop, two levels below the nearest office.
    team = Unit(code="MCH-W2-T1", name_zh="总装一班", name_en="Team 1", kind=UnitKind.workshop)
    team.parent = workshop
    session.add(team)
    session.flush()
    assert units.nearest_office(team).unit.code == "MCH"


def test_a_unit_without_any_office_above_it_has_none(session):
    lonely = Unit(code="ISLAND", name_zh="独立单位", name_en="Island", kind=UnitKind.enterprise)
    session.add(lonely)
    session.flush()
    assert units.nearest_office(lonely) is None


def test_staff_cover_their_own_unit_and_below(session):
    from app.models import StaffUser

    publisher = session.query(StaffUser).filter_by(username="mch.publisher").one()
    covered = {u.code for u in units.for_staff(session, publisher)}
    assert covered == {"MCH", "MCH-W1", "MCH-W2", "MCH-PUR"}
    assert not units.staff_covers(publisher, units.by_code(session, "GRP"))
    admin = session.query(StaffUser).filter_by(username="admin").one()
    assert units.staff_covers(admin, units.by_code(session, "CHM-W2"))


# --- changes of the tree -----------------------------------------------------------------------


def test_codes_are_unique_in_any_case_even_when_two_requests_race(session, monkeypatch):
    mch = units.by_code(session, "MCH")
    added = units.add_unit(session, " steel-2 ", "第二炼钢厂", "No. 2 Steelworks", "workshop", mch)
    assert added.code == "STEEL-2" and added.parent is mch
    with pytest.raises(units.UnitError) as taken:
        units.add_unit(session, "Steel-2", "第二炼钢厂", "Steel", UnitKind.workshop, mch)
    assert taken.value.field == "code"
    # The check saw nothing (another request added the code just after it): the database says.
    monkeypatch.setattr(units, "code_taken", lambda _session, _code: False)
    with pytest.raises(units.UnitError) as raced:
        units.add_unit(session, "steel-2", "第二炼钢厂", "Steel", UnitKind.workshop, mch)
    assert raced.value.field == "code"
    assert units.by_code(session, "STEEL-2").name_zh == "第二炼钢厂"  # the session still works


@pytest.mark.parametrize("code", ["", "   ", "炼钢厂", "STEEL 2", "A" * 33, "STEEL\n2", "-X"])
def test_bad_codes_are_refused(session, code):
    with pytest.raises(units.UnitError) as refused:
        units.add_unit(session, code, "第二炼钢厂", "Steel", "workshop", None)
    assert refused.value.field == "code"


def test_a_unit_moves_neither_under_itself_nor_under_what_is_below_it(session):
    mch, w1, chm = (units.by_code(session, c) for c in ("MCH", "MCH-W1", "CHM"))
    for target in (mch, w1):
        with pytest.raises(units.UnitError) as refused:
            units.move_unit(session, mch, target)
        assert refused.value.field == "parent"
    units.move_unit(session, w1, chm)
    assert w1.ancestors() == [chm, units.by_code(session, "GRP")]
    units.move_unit(session, w1, None)
    assert w1.parent is None


def test_a_closed_unit_takes_no_new_report_disclosure_duty_or_staff(session):
    from app.models import Period
    from app.services import staff
    from app.services.disclosures import catalogue, categories, drafting
    from app.services.disclosures.errors import DisclosureError
    from app.services.reports.errors import ReportInvalid
    from app.services.reports.submission import check_fields
    from tests.helpers.disclosures import draft_fields
    from tests.helpers.disclosures import staff as staff_named
    from tests.helpers.reports import form

    pur = units.by_code(session, "MCH-PUR")
    with pytest.raises(units.UnitError):
        units.close_unit(session, units.by_code(session, "MCH"), pur.created_at.date())
    units.close_unit(session, pur, pur.created_at.date())
    assert pur not in units.open_units(session)
    with pytest.raises(ReportInvalid) as refused:
        check_fields(session, form(unit_code="MCH-PUR"))
    assert refused.value.errors == {"unit_code": "unknown"}
    fields = draft_fields(session, title="采购部招标公示", unit=pur)
    with pytest.raises(DisclosureError):
        drafting.create_draft(session, staff_named(session, "mch.publisher"), fields)
    category = categories.list_categories(session)[0]
    with pytest.raises(DisclosureError):
        catalogue.add_catalogue_entry(
            session, category, pur, Period.yearly, 30, pur.created_at.date()
        )
    with pytest.raises(staff.StaffError) as closed:
        staff.unit_for_staff(session, "mch-pur")
    assert closed.value.reason == staff.StaffError.unit_closed
    units.reopen_unit(session, pur)
    assert staff.unit_for_staff(session, "mch-pur") is pur


def test_only_a_unit_nothing_refers_to_is_removed(session):
    chm = units.by_code(session, "CHM")  # staff, disclosures, its office
    with pytest.raises(units.UnitError):
        units.remove_unit(session, chm)
    w2 = units.by_code(session, "CHM-W2")
    units.add_office(session, w2, "包装车间纪检组", "Packaging Office")
    units.remove_unit(session, w2)  # its office, referred to by nothing, goes with it
    assert units.by_code(session, "CHM-W2") is None
    assert units.office_by_unit_code(session, "CHM-W2") is None


def test_two_moves_at_the_same_moment_leave_no_loop(console_app, demo):
    import threading

    database = console_app.extensions["portal.db"]
    outcome: dict[str, object] = {}

    def second_move() -> None:
        try:
            with database.session() as other:
                w1, w2 = (units.by_code(other, c) for c in ("MCH-W1", "MCH-W2"))
                units.move_unit(other, w2, w1)  # waits for the first move's transaction
            outcome["second"] = "moved"
        except units.UnitError:
            outcome["second"] = "refused"

    with database.session() as first:
        w1, w2 = (units.by_code(first, c) for c in ("MCH-W1", "MCH-W2"))
        units.move_unit(first, w1, w2)
        thread = threading.Thread(target=second_move)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second move must wait for the first"
    thread.join(timeout=30)
    assert outcome == {"second": "refused"}
    with database.session() as session:
        w1, w2 = (units.by_code(session, c) for c in ("MCH-W1", "MCH-W2"))
        assert w1.parent_id == w2.id and w2.parent.code == "MCH"


@pytest.mark.parametrize("invisible", ["", "\u200b", "\u200b\u200c\u2060\ufeff", "\u202e\u3000"])
def test_a_name_of_invisible_characters_is_refused(session, invisible):
    with pytest.raises(units.UnitError) as refused:
        units.add_unit(session, "STEEL2", invisible, "Steel", "workshop", None)
    assert refused.value.field == "name_zh"
    mch = units.by_code(session, "MCH")
    with pytest.raises(units.UnitError) as refused:
        units.rename_unit(session, mch, "机械公司", invisible)
    assert refused.value.field == "name_en"
    with pytest.raises(units.UnitError) as refused:
        units.add_office(session, units.by_code(session, "CHM-W2"), invisible, "Office")
    assert refused.value.field == "office_zh"


def test_names_are_stored_cleaned(session):
    steel = units.add_unit(
        session, "STEEL2", "第二\u200b炼钢厂\u202e", "No.\u30002  Ｓｔｅｅｌ", "workshop", None
    )
    assert (steel.name_zh, steel.name_en) == ("第二炼钢厂", "No. 2 Steel")
    units.rename_unit(session, steel, "\ufeff第二\u3000炼钢厂", "Steel\u2060works")
    assert (steel.name_zh, steel.name_en) == ("第二 炼钢厂", "Steelworks")
    with pytest.raises(units.UnitError):  # too long once cleaned (one sign, eighteen letters)
        units.rename_unit(session, steel, "\ufdfa" * 12, "Steel")
