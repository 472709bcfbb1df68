"""The inbox lists the cases one account may read, with filters that combine, counts, order
and pages; metadata only."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.models import (
    Case,
    Disposal,
    InboxEntry,
    Report,
    ReportCategory,
    ReportKind,
    ReportStatus,
    StaffUser,
)
from app.models.inbox import drift, rebuild, settle
from app.services import units
from app.services.cases import inbox, trail, workflow
from app.services.cases.access import recuse, transfer_up
from app.services.cases.deadlines import DeadlineRules
from app.services.cases.inbox import InboxFilters
from tests.helpers.case_console import send_report
from tests.helpers.cases import make_case
from tests.helpers.reports import TODAY

RULES = DeadlineRules()


@pytest.fixture
def cases(db, org, blobs):
    """Five MCH cases received on different days, one kept from mch.insp2, one for GRP."""
    made = {}
    made["old"] = send_report(db, blobs, today=TODAY - timedelta(days=30), files=False)
    made["criticism"] = send_report(
        db,
        blobs,
        today=TODAY - timedelta(days=3),
        files=False,
        kind="criticism",
        category="work_style",
    )
    made["new"] = send_report(db, blobs, today=TODAY, files=False)
    made["kept_out"] = send_report(db, blobs, files=False, excluded=[org.staff["mch.insp2"]])
    made["workshop"] = send_report(db, blobs, files=False, unit_code="MCH", level="staff")
    made["group"] = send_report(db, blobs, files=False, unit_code="MCH", level="unit_leader")
    return made


def _ids(page):
    return [row.report_id for row in page.rows]


def _list(db, org, name, filters: InboxFilters | None = None, **kw):
    with db() as session:
        staff = session.get(StaffUser, org.staff[name])
        return inbox.list_cases(session, staff, filters or InboxFilters(), TODAY, **kw)


def test_each_account_sees_its_office_cases_it_may_read(db, org, cases):
    insp1 = set(_ids(_list(db, org, "mch.insp1")))
    assert cases["group"] not in insp1 and cases["kept_out"] in insp1
    insp2 = set(_ids(_list(db, org, "mch.insp2")))
    assert cases["kept_out"] not in insp2 and insp2 == insp1 - {cases["kept_out"]}
    assert _ids(_list(db, org, "grp.insp1")) == [cases["group"]]
    assert _ids(_list(db, org, "f1.insp")) == []


def test_counts_per_status_and_filters_that_combine(db, org, cases):
    with db() as session:
        insp = session.get(StaffUser, org.staff["mch.insp1"])
        head = session.get(StaffUser, org.staff["mch.head"])
        old = session.get(Report, cases["old"])
        workflow.change_status(session, insp, old, ReportStatus.acknowledged, TODAY, RULES)
        workflow.add_label(session, insp, old, "食堂")
        workflow.add_label(session, insp, session.get(Report, cases["new"]), "食堂")
        workflow.assign(session, head, old, insp.id)
        purchasing = units.by_code(session, "MCH-PUR")
        sub_units = tuple(units.subtree_ids(session, purchasing))
    page = _list(db, org, "mch.insp1")
    assert page.counts == {ReportStatus.received: 4, ReportStatus.acknowledged: 1}
    assert page.total == 5
    # Acknowledged, the old case next owes its feedback: after the new one's acknowledgement.
    assert _ids(_list(db, org, "mch.insp1", InboxFilters(label="食堂"))) == [
        cases["new"],
        cases["old"],
    ]
    both = InboxFilters(label="食堂", status=ReportStatus.received)
    assert _ids(_list(db, org, "mch.insp1", both)) == [cases["new"]]
    assigned = InboxFilters(assignee_id=org.staff["mch.insp1"], label="食堂")
    assert _ids(_list(db, org, "mch.insp1", assigned)) == [cases["old"]]
    nobody = InboxFilters(assignee_id=inbox.UNASSIGNED, kind=ReportKind.misconduct)
    assert cases["old"] not in _ids(_list(db, org, "mch.insp1", nobody))
    critic = InboxFilters(kind=ReportKind.criticism, category=ReportCategory.work_style)
    assert _ids(_list(db, org, "mch.insp1", critic)) == [cases["criticism"]]
    in_purchasing = _ids(_list(db, org, "mch.insp1", InboxFilters(unit_ids=sub_units)))
    assert len(in_purchasing) == 4 and cases["workshop"] not in in_purchasing
    window = InboxFilters(
        received_from=TODAY - timedelta(days=5), received_to=TODAY - timedelta(days=1)
    )
    assert _ids(_list(db, org, "mch.insp1", window)) == [cases["criticism"]]
    nothing = InboxFilters(label="食堂", kind=ReportKind.criticism)
    assert _list(db, org, "mch.insp1", nothing).total == 0


def test_overdue_and_sorting_by_deadline(db, org, cases):
    # The old case (received 30 days ago) was never acknowledged: overdue, and due first.
    page = _list(db, org, "mch.insp1", InboxFilters(overdue=True))
    assert _ids(page) == [cases["old"]] and page.rows[0].overdue
    ordered = _ids(_list(db, org, "mch.insp1"))
    assert ordered[0] == cases["old"]
    newest = _ids(_list(db, org, "mch.insp1", InboxFilters(sort="received")))
    assert newest[-1] == cases["old"]


def test_new_or_changed_since_i_last_looked(db, org, cases):
    changed = InboxFilters(changed=True)
    assert len(_ids(_list(db, org, "mch.insp1", changed))) == 5  # never looked at any
    with db() as session:
        insp = session.get(StaffUser, org.staff["mch.insp1"])
        for report_id in (cases["old"], cases["new"]):
            workflow.mark_seen(session, insp, session.get(Report, report_id), TODAY)
    assert set(_ids(_list(db, org, "mch.insp1", changed))).isdisjoint({cases["old"], cases["new"]})
    with db() as session:  # a colleague's label changes the case for everyone
        insp2 = session.get(StaffUser, org.staff["mch.insp2"])
        workflow.add_label(session, insp2, session.get(Report, cases["old"]), "待核实")
    assert cases["old"] in _ids(_list(db, org, "mch.insp1", changed))
    # mch.insp2 looked at nothing: still all new there.
    assert len(_ids(_list(db, org, "mch.insp2", changed))) == 4


def test_pages(db, org, cases):
    first = _list(db, org, "mch.insp1", per_page=2)
    second = _list(db, org, "mch.insp1", per_page=2, page=2)
    last = _list(db, org, "mch.insp1", per_page=2, page=99)  # past the end: the last page
    assert (first.pages, last.page) == (3, 3)
    assert len(set(_ids(first) + _ids(second) + _ids(last))) == 5


def test_dashboard_lists(db, org, cases):
    with db() as session:
        insp = session.get(StaffUser, org.staff["mch.insp1"])
        due = inbox.due_soon(session, insp, TODAY, 7)
        assert due[0].report_id == cases["old"] and due[0].overdue
        report = session.get(Report, cases["new"])
        report.status = ReportStatus.under_assessment
        from app.services.cases import decisions

        decisions.propose(session, insp, report, Disposal.talk_or_inquiry, TODAY)
        head = session.get(StaffUser, org.staff["mch.head"])
        assert [d.report_id for d in decisions.waiting_for(session, head)] == [cases["new"]]
        assert decisions.waiting_for(session, insp) == []


# The inbox reads its own rows (app/models/inbox.py), kept from the report, the case, the
# readers and their views. Every test's teardown checks that they agree (tests/conftest.py);
# these show that the check can fail and that the rows follow what the inbox promises.


def _entries(db, report_id) -> dict[int, InboxEntry]:
    with db() as session:
        rows = session.scalars(select(InboxEntry).where(InboxEntry.report_id == report_id))
        return {row.staff_id: row for row in rows}


def test_a_change_made_behind_the_upkeep_shows_as_drift_until_rebuilt(db, org, cases):
    with db() as session:
        session.execute(update(Case).where(Case.report_id == cases["old"]).values(version=99))
    with db() as session:
        assert {row[1] for row in drift(session)} == {cases["old"]}
        rebuild(session, [cases["old"]])
    with db() as session:
        assert drift(session) == []
    assert {row.version for row in _entries(db, cases["old"]).values()} == {99}


def test_a_transaction_rolled_back_leaves_the_rows_as_they_were(db, org, cases):
    with db() as session:
        insp = session.get(StaffUser, org.staff["mch.insp1"])
        report = session.get(Report, cases["new"])
        workflow.change_status(session, insp, report, ReportStatus.acknowledged, TODAY, RULES)
        # Read inside the transaction: the inbox already lists the change...
        page = inbox.list_cases(session, insp, InboxFilters(), TODAY)
        assert page.counts[ReportStatus.acknowledged] == 1
        session.rollback()
    # ...and after the rollback nothing of it is left, in the rows or the counts.
    assert {row.status for row in _entries(db, cases["new"]).values()} == {ReportStatus.received}
    assert ReportStatus.acknowledged not in _list(db, org, "mch.insp1").counts


def test_recusal_and_transfer_take_the_case_out_of_the_inboxes_that_lose_it(db, org, blobs):
    case = make_case(db, blobs)
    mch = {org.staff[n] for n in ("mch.insp1", "mch.insp2", "mch.head")}
    assert mch <= set(_entries(db, case.report_id))
    unassigned = InboxFilters(assignee_id=inbox.UNASSIGNED)
    with db() as session:
        report = session.get(Report, case.report_id)
        head = session.get(StaffUser, org.staff["mch.head"])
        workflow.assign(session, head, report, org.staff["mch.insp1"])
    with db() as session:
        report = session.get(Report, case.report_id)
        insp1 = session.get(StaffUser, org.staff["mch.insp1"])
        recuse(session, report, [org.keys["mch.insp1"]], insp1, TODAY)
    assert org.staff["mch.insp1"] not in _entries(db, case.report_id)
    assert case.report_id not in _ids(_list(db, org, "mch.insp1"))
    # Whoever recused handles it no more: the head sees it unassigned, to give to another.
    assert case.report_id in _ids(_list(db, org, "mch.head", unassigned))
    with db() as session:
        report = session.get(Report, case.report_id)
        workflow.assign(session, head, report, org.staff["mch.insp2"])
    with db() as session:
        report = session.get(Report, case.report_id)
        head = session.get(StaffUser, org.staff["mch.head"])
        transfer_up(session, report, [org.keys["mch.head"]], head, TODAY)
    entries = _entries(db, case.report_id)
    assert not mch & set(entries) and org.staff["grp.insp2"] in entries
    assert case.report_id in _ids(_list(db, org, "grp.insp2"))
    assert case.report_id not in _ids(_list(db, org, "mch.insp2"))
    # The office above assigns it to one of its own; until then it is nobody's there.
    assert case.report_id in _ids(_list(db, org, "grp.head", unassigned))
    with db() as session:
        due = inbox.due_soon(session, session.get(StaffUser, org.staff["grp.insp2"]), TODAY, 400)
    assert case.report_id in {row.report_id for row in due}


def test_someone_moved_to_another_office_sees_none_of_the_old_ones_cases(db, org, cases):
    with db() as session:
        insp = session.get(StaffUser, org.staff["mch.insp1"])
        insp.office_id = org.offices["GRP"]
    page = _list(db, org, "mch.insp1")
    assert page.rows == [] and page.total == 0 and page.counts == {}
    assert cases["group"] not in _ids(page)  # nor the new one's, before a grant


def test_a_look_committed_while_a_status_change_commits_leaves_both_in_the_rows(db, org, cases):
    """B changes the status and has rebuilt its rows, not yet committed; A opens the case
    (its own view row) and commits meanwhile. Neither fails and the rows say both."""
    b_rebuilt, a_writing = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def change_status() -> None:
        with db() as session:
            insp = session.get(StaffUser, org.staff["mch.insp1"])
            report = session.get(Report, cases["new"])
            workflow.change_status(session, insp, report, ReportStatus.acknowledged, TODAY, RULES)
            settle(session)
            b_rebuilt.set()
            a_writing.wait(10)
            time.sleep(0.5)  # A reaches its own commit meanwhile

    def look() -> None:
        b_rebuilt.wait(10)
        with db() as session:
            insp2 = session.get(StaffUser, org.staff["mch.insp2"])
            a_writing.set()
            workflow.mark_seen(session, insp2, session.get(Report, cases["new"]), TODAY)

    def run(step) -> None:
        try:
            step()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(step,)) for step in (change_status, look)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    entries = _entries(db, cases["new"])
    assert {row.status for row in entries.values()} == {ReportStatus.acknowledged}
    insp2 = entries[org.staff["mch.insp2"]]
    assert insp2.seen_version >= 1 and insp2.version == entries[org.staff["mch.insp1"]].version


def test_opening_a_case_while_its_head_assigns_it_never_deadlocks(db, org, cases):
    """The opening takes the audit log's lock, then (its view changed) rebuilds the case's
    rows; the assignment takes the case's row, then the audit log's lock, then rebuilds.
    Twenty rounds at the same moment: none fails, and the rows say the last assignment."""
    errors: list[BaseException] = []
    assignees = [org.staff["mch.insp1"], org.staff["mch.insp2"]]

    def open_case(start: threading.Barrier) -> None:
        start.wait()
        with db() as session:
            insp = session.get(StaffUser, org.staff["mch.insp2"])
            report = session.get(Report, cases["old"])
            trail.record(session, "case_open", actor=insp, case_id=report.id)
            workflow.mark_seen(session, insp, report, TODAY)

    def assign(start: threading.Barrier, round_: int) -> None:
        start.wait()
        with db() as session:
            head = session.get(StaffUser, org.staff["mch.head"])
            report = session.get(Report, cases["old"])
            workflow.assign(session, head, report, assignees[round_ % 2])

    def run(step, *args) -> None:
        try:
            step(*args)
        except BaseException as error:  # reported below
            errors.append(error)

    for round_ in range(20):
        start = threading.Barrier(2, timeout=10)
        threads = [
            threading.Thread(target=run, args=(open_case, start)),
            threading.Thread(target=run, args=(assign, start, round_)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert {row.assignee_id for row in _entries(db, cases["old"]).values()} == {assignees[1]}
