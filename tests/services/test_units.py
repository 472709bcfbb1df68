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
