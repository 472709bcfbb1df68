"""Routing: the office a report goes to, by unit and level, over a five-level unit tree.

See tests/helpers/reports.py for the tree: offices at GRP, MCH and MCH-F1 with keys, CHM without a
keyed inspector, LOG without a recovery key, ISL with no office at all.
"""

from __future__ import annotations

import pytest

from app.models import StaffUser, SubjectLevel
from app.services import units
from app.services.reports.errors import ChannelUnavailable, ExclusionsLeaveNoOffice
from app.services.reports.recipients import office_keys, parse_key
from app.services.reports.routing import candidate_offices, route_report

S, M, L, D = (
    SubjectLevel.staff,
    SubjectLevel.middle_manager,
    SubjectLevel.unit_leader,
    SubjectLevel.discipline_member,
)
NOBODY = None

# unit, level of the person concerned, the office (by its unit) the report must reach
ROUTES = [
    # the enterprise
    ("GRP", S, "GRP"),
    ("GRP", M, "GRP"),
    ("GRP", L, NOBODY),  # its leaders answer to a body outside the enterprise
    ("GRP", D, NOBODY),
    ("GRP-FIN", S, "GRP"),  # a department without an office: the enterprise's
    ("GRP-FIN", L, "GRP"),  # its head: the parent's office, which is the same one
    ("GRP-FIN", D, NOBODY),  # a member of the office covering it (GRP's): nothing above
    # a subsidiary with its own office
    ("MCH", S, "MCH"),
    ("MCH", M, "MCH"),
    ("MCH", L, "GRP"),  # never the office its leaders lead
    ("MCH", D, "GRP"),
    ("MCH-PUR", S, "MCH"),
    ("MCH-PUR", M, "MCH"),
    ("MCH-PUR", L, "MCH"),  # the department head answers to the company's office
    ("MCH-PUR", D, "GRP"),  # a member of MCH's office working there: above MCH
    # a branch factory with an office, two levels below it without
    ("MCH-F1", S, "MCH-F1"),
    ("MCH-F1", L, "MCH"),
    ("MCH-F1", D, "MCH"),
    ("MCH-F1-W1", M, "MCH-F1"),
    ("MCH-F1-W1", L, "MCH-F1"),
    ("MCH-F1-W1", D, "MCH"),
    ("MCH-F1-W1-T1", S, "MCH-F1"),
    ("MCH-F1-W1-T1", L, "MCH-F1"),  # the team's parent (the workshop) has none: the factory's
    ("MCH-F1-W1-T1", D, "MCH"),
    # offices that cannot read pass the report up
    ("CHM", S, "GRP"),  # its only inspector has no key
    ("CHM-W1", M, "GRP"),
    ("CHM-W1", L, "GRP"),
    ("LOG", S, "GRP"),  # no recovery key
    ("LOG-FLEET", S, "GRP"),
    # no office anywhere above
    ("ISL", S, NOBODY),
    ("ISL", L, NOBODY),
]


@pytest.mark.parametrize(("unit_code", "level", "expected"), ROUTES)
def test_a_report_reaches_the_office_the_rules_name(db, org, unit_code, level, expected):
    with db() as session:
        unit = units.by_code(session, unit_code)
        if expected is NOBODY:
            with pytest.raises(ChannelUnavailable):
                route_report(session, unit, level)
            return
        route = route_report(session, unit, level)
        assert route.office.unit.code == expected
        assert route.keys.recovery is not None and route.keys.readers()


def test_passed_over_offices_are_those_without_usable_keys(db, org):
    with db() as session:
        route = route_report(session, units.by_code(session, "CHM-W1"), S)
        assert [o.unit.code for o in route.passed_over] == ["CHM"]
        route = route_report(session, units.by_code(session, "LOG-FLEET"), S)
        assert [o.unit.code for o in route.passed_over] == ["LOG"]


def test_candidates_skip_the_office_the_person_belongs_to(db, org):
    with db() as session:
        team = units.by_code(session, "MCH-F1-W1-T1")
        assert [o.unit.code for o in candidate_offices(team, S)] == ["MCH-F1", "MCH", "GRP"]
        assert [o.unit.code for o in candidate_offices(team, L)] == ["MCH-F1", "MCH", "GRP"]
        assert [o.unit.code for o in candidate_offices(team, D)] == ["MCH", "GRP"]
        mch = units.by_code(session, "MCH")
        assert [o.unit.code for o in candidate_offices(mch, L)] == ["GRP"]


# unit, level, excluded usernames, office reached, exclusions kept with the report
EXCLUSIONS = [
    ("MCH-PUR", S, ["mch.insp1"], "MCH", ["mch.insp1"]),
    ("MCH-PUR", S, ["mch.insp1", "mch.insp2"], "MCH", ["mch.insp1", "mch.insp2"]),
    # A head kept out (周强 of GRP, 吴刚 of MCH): a conflict with the office, which passes it up.
    ("MCH-PUR", S, ["mch.head"], "GRP", ["mch.head"]),
    ("MCH-PUR", S, ["mch.head", "grp.insp1"], "GRP", ["mch.head", "grp.insp1"]),
    # MCH's head reads nothing at MCH-F1, but is kept: the case may be passed up to MCH.
    ("MCH-F1-W1", S, ["mch.head"], "MCH-F1", ["mch.head"]),
    # Every inspector of the office excluded: a conflict with the whole office goes up.
    (
        "MCH-PUR",
        S,
        ["mch.insp1", "mch.insp2", "mch.head"],
        "GRP",
        ["mch.insp1", "mch.insp2", "mch.head"],
    ),
    ("MCH-F1-W1", S, ["f1.insp"], "MCH", ["f1.insp"]),
    # Names from offices below or aside, non-inspectors and former staff mean nothing here;
    # names from the offices above are kept, for a transfer upward.
    ("MCH-PUR", S, ["grp.insp1", "f1.insp"], "MCH", ["grp.insp1"]),
    ("MCH-PUR", S, ["f1.insp", "log.insp"], "MCH", []),
    ("MCH-PUR", S, ["mch.publisher", "mch.gone"], "MCH", []),
    ("GRP-FIN", S, ["grp.insp1"], "GRP", ["grp.insp1"]),
    # Nothing above the enterprise's office: its head, or all its inspectors, kept out.
    ("GRP-FIN", S, ["grp.head"], NOBODY, []),
    ("GRP-FIN", S, ["grp.insp1", "grp.insp2"], NOBODY, []),
    ("MCH-PUR", S, ["mch.head", "grp.head"], NOBODY, []),
]


@pytest.mark.parametrize(("unit_code", "level", "excluded", "expected", "counted"), EXCLUSIONS)
def test_exclusions_count_for_the_offices_whose_people_they_name(
    db, org, unit_code, level, excluded, expected, counted
):
    ids = [org.staff[name] for name in excluded]
    with db() as session:
        unit = units.by_code(session, unit_code)
        if expected is NOBODY:
            route_report(session, unit, level)  # an office could take it, but for the exclusions
            with pytest.raises(ExclusionsLeaveNoOffice):
                route_report(session, unit, level, ids)
            return
        route = route_report(session, unit, level, ids)
        assert route.office.unit.code == expected
        assert route.excluded == {org.staff[name] for name in counted}
        for staff_id in ids:
            assert staff_id not in route.keys.readers(route.excluded)
            assert staff_id not in route.keys.identity_readers(route.excluded)


def test_no_office_at_all_is_not_blamed_on_exclusions(db, org):
    with db() as session:
        with pytest.raises(ChannelUnavailable) as raised:
            route_report(session, units.by_code(session, "ISL"), S, [org.staff["grp.head"]])
        assert not isinstance(raised.value, ExclusionsLeaveNoOffice)


def test_office_keys_hold_active_keyed_staff_of_the_office_only(db, org):
    with db() as session:
        keys = office_keys(session, org.offices["MCH"])
        named = {name for name, i in org.staff.items() if i in keys.inspectors}
        assert named == {"mch.insp1", "mch.insp2", "mch.head"}
        assert set(keys.heads) == keys.head_ids == {org.staff["mch.head"]}
        assert set(keys.readers()) == {org.staff[n] for n in ("mch.insp1", "mch.insp2", "mch.head")}
        grp = office_keys(session, org.offices["GRP"])
        # The head reads every report of the office, though no inspector.
        assert org.staff["grp.head"] in grp.readers() and grp.head_ids == set(grp.heads)
        assert org.staff["grp.head"] not in grp.inspector_ids
        assert org.staff["mch.gone"] not in keys.inspector_ids
        assert keys.recovery == org.recovery["MCH"].recipient
        chm = office_keys(session, org.offices["CHM"])
        assert chm.inspector_ids == {org.staff["chm.insp"]} and not chm.inspectors
        assert not chm.usable()


def test_a_key_that_does_not_parse_is_no_key(db, org):
    assert parse_key("age1notakey") is None
    assert parse_key("") is None and parse_key(None) is None
    with db() as session:
        user = session.get(StaffUser, org.staff["f1.insp"])
        user.age_recipient = "AGE-SECRET-KEY-1QQQ"  # a secret pasted by mistake: no key
    with db() as session:
        # F1's only inspector now has no key: the report goes to MCH instead.
        route = route_report(session, units.by_code(session, "MCH-F1"), S)
        assert route.office.unit.code == "MCH"
