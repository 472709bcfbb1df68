"""Every route that changes something refuses a form without its CSRF token: enumerated from
the apps' URL maps, so that a new route without its entry here fails until it has one.

For each rule accepting POST, PUT, PATCH or DELETE, the request is sent as someone who may
send it (signed in with the role the view wants, or a reporter in a follow-up session), with
the fields the view takes, three times: without a token, with a forged one, and with a real
token of another session. Each must be refused with the translated page, and nothing may
change: not a row in any table, not the sign-in or the follow-up session. Then the same
request with the page's own token must be taken (so the refusals above were the token's
doing, and the table's values reach the view).

A route whose path has parameters gets real values from the demo data through the tables
below (``CONSOLE_POSTS``, ``PUBLIC_POSTS``): add a new route there, with who sends it and
the fields it takes.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Base, utcnow
from app.models import (
    CatalogueEntry,
    CongressStatus,
    Disclosure,
    DisclosureQuestion,
    Disposal,
    QuestionState,
    StaffEnrolment,
)
from app.resources import blob_store
from app.services import enrolment, sessions
from app.services import staff as staff_service
from app.services.demo import DEMO_LOGINS
from app.services.disclosures import drafting, reviewing
from app.services.disclosures.attachments import add_attachment
from app.services.reports import retention
from app.services.staff import totp_now
from tests.helpers.console import signed_in
from tests.helpers.disclosures import draft_fields, staff
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import CANARY, post_report, report_form_data

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
FORGED = "伪造的令牌-ImZha2Ui.aGVsbG8"
EXPIRED = {"zh": "表单已过期", "en": "The form has expired"}


# --- the console -------------------------------------------------------------------------------


def _draft(session: Session, app: Flask, *, attachment: bool = False) -> dict[str, int]:
    """A new draft of the demo publisher (with a file: ``attachment``)."""
    author = staff(session, "publisher")
    disclosure = drafting.create_draft(
        session, author, draft_fields(session, title="食堂承包合同公示（草稿）")
    )
    values = {"disclosure_id": disclosure.id}
    if attachment:
        with app.app_context():
            added = add_attachment(
                session,
                blob_store(),
                disclosure,
                author,
                "合同金额明细.csv",
                io.BytesIO("项目,金额\n食堂,12000\n".encode()),
                1024,
            )
        session.flush()
        values["attachment_id"] = added.id
    return values


def _in_review(session: Session, app: Flask) -> dict[str, int]:
    values = _draft(session, app)
    disclosure = session.get(Disclosure, values["disclosure_id"])
    drafting.submit_for_review(session, disclosure, staff(session, "publisher"))
    return values


def _published(session: Session, app: Flask) -> dict[str, int]:
    values = _in_review(session, app)
    disclosure = session.get(Disclosure, values["disclosure_id"])
    reviewing.approve(session, disclosure, staff(session, "approver"))
    return values


def _amending(session: Session, app: Flask) -> dict[str, int]:
    values = _published(session, app)
    disclosure = session.get(Disclosure, values["disclosure_id"])
    drafting.start_amendment(session, disclosure, staff(session, "publisher"))
    return values


def _catalogue_entry(session: Session, _app: Flask) -> dict[str, int]:
    return {"entry_id": session.scalar(select(CatalogueEntry.id).order_by(CatalogueEntry.id))}


def _report_category(_session: Session, _app: Flask) -> dict[str, str]:
    return {"code": "work_style"}


def _retention_codes(session: Session, _app: Flask) -> dict[str, list[str]]:
    return {"codes": retention.category_codes(session)}


def _retention_fields(values: dict) -> dict[str, str]:
    """What the retention page sends: every category's field (empty: the default)."""
    fields = {f"retention-years_{code}": "" for code in values["codes"]}
    return {**fields, "retention-years_work_style": "10"}


def _pending_question(session: Session, _app: Flask) -> dict[str, int]:
    pending = select(DisclosureQuestion.id).where(DisclosureQuestion.state == QuestionState.pending)
    return {"question_id": session.scalar(pending.order_by(DisclosureQuestion.id))}


def _awaiting_congress(session: Session, _app: Flask) -> dict[str, int]:
    """The demo item awaiting the workers' congress's review."""
    awaiting = select(Disclosure.id).where(Disclosure.congress_status == CongressStatus.awaiting)
    return {"disclosure_id": session.scalar(awaiting.order_by(Disclosure.id))}


def _no_values(_session: Session, _app: Flask) -> dict[str, int]:
    return {}


def _other_session(username: str) -> Callable[[Session, Flask], dict[str, Any]]:
    """Another console session of ``username`` (as on a second PC): its id, as its form has it."""

    def values(session: Session, _app: Flask) -> dict[str, Any]:
        ticket = sessions.open_session(
            session, staff(session, username), [], sessions.SessionPolicy(), utcnow()
        )
        return {"session_id": ticket.id_hash}

    return values


def _enrolment_code(username: str) -> Callable[[Session, Flask], dict[str, Any]]:
    """An enrolment code issued to ``username`` by an administrator."""

    def values(session: Session, _app: Flask) -> dict[str, Any]:
        issued = enrolment.issue_code(session, staff(session, username), utcnow())
        return {"username": username, "enrolment_code": issued.code}

    return values


def _enrolment_started(client, values: dict, app: Flask) -> None:
    """The first page of enrolment sent (with its token): the second one is open."""
    token = csrf_token(client.get("/enrol").get_data(as_text=True))
    fields = {"csrf_token": token, "username": values["username"]}
    started = client.post("/enrol", data={**fields, "code": values["enrolment_code"]})
    assert started.status_code == 302, "the enrolment of the test did not start"
    with app.extensions["portal.db"].session() as session:
        secret = session.scalar(
            select(StaffEnrolment.pending_totp_secret).where(
                StaffEnrolment.staff_id == staff(session, values["username"]).id
            )
        )
    values["totp"] = staff_service.totp_now(secret)


def _unit_id(code: str, *, closed: bool = False) -> Callable[[Session, Flask], dict[str, Any]]:
    """The demo unit ``code`` (closed first: ``closed``)."""

    def values(session: Session, _app: Flask) -> dict[str, Any]:
        from app.services import units

        unit = units.by_code(session, code)
        if closed:
            units.close_unit(session, unit, utcnow().date())
        return {"unit_id": unit.id}

    return values


def _user_id(username: str) -> Callable[[Session, Flask], dict[str, Any]]:
    def values(session: Session, _app: Flask) -> dict[str, Any]:
        return {"user_id": staff(session, username).id}

    return values


def _office_id(code: str) -> Callable[[Session, Flask], dict[str, Any]]:
    def values(session: Session, _app: Flask) -> dict[str, Any]:
        from app.services import units

        return {"office_id": units.office_by_unit_code(session, code).id}

    return values


def _office_shares(code: str) -> Callable[[Session, Flask], dict[str, Any]]:
    """The office at ``code`` with a new recovery key, 2 of 3: its id and two of its shares."""

    def values(session: Session, _app: Flask) -> dict[str, Any]:
        from app.services import units
        from app.services.recovery import recovery_ceremony

        office = units.office_by_unit_code(session, code)
        sheets = recovery_ceremony(session, office, 2, 3, None, utcnow().date(), replace=True)
        return {"office_id": office.id, "shares": [" ".join(s.words) for s in sheets[:2]]}

    return values


def _with_unit_ids(*codes: str, then: Callable[[Session, Flask], dict[str, Any]]):
    def values(session: Session, app: Flask) -> dict[str, Any]:
        from app.services import units

        found = then(session, app)
        found.update({f"id_of_{code}": units.by_code(session, code).id for code in codes})
        return found

    return values


NEW_PASSWORD = "审核食堂合同-新口令-2026"


def _login_fields(_values: dict) -> dict[str, str]:
    # Someone no other row signs in: a TOTP code is taken once.
    login = next(login for login in DEMO_LOGINS if login.username == "head")
    code = staff_service.totp_now(login.totp_secret)
    return {"username": login.username, "password": login.password, "code": code}


def _draft_fields(_values: dict) -> dict[str, str]:
    return {
        "title": "食堂承包合同公示",
        "category": "procurement",
        "unit": "MCH",
        "scope": "everyone",
        "body": "合同金额与期限见附件。",
        "save": "1",
    }


# --- cases: each row gets a case of its own, sent to the MCH office just before -----------------


def _mch_case(
    *, excluded: tuple[str, ...] = (), proposed_by: str | None = None, confirmed_by: str = ""
):
    """A new report routed to MCH (its readers: mch.inspector and mch.head among them), with a
    disposal proposed by ``proposed_by`` when given."""

    def values(session: Session, app: Flask) -> dict[str, Any]:
        from app.i18n import today
        from app.models import Report, ReportStatus
        from app.resources import receipt_pepper, receipt_versions
        from app.services.cases import decisions
        from app.services.reports.submission import submit
        from tests.helpers.reports import form

        with app.test_request_context(), app.extensions["portal.db"].session() as own:
            ids = [staff(own, name).id for name in excluded]
            done = submit(  # commits its own session (a receipt is durable)
                own,
                blob_store(),
                receipt_pepper(),
                form(unit_code="MCH-W1", excluded=ids, real_name="王五"),
                [],
                today(),
                receipt_versions(),
            )
        with app.test_request_context():
            report = session.get(Report, done.report_id)
            decision = None
            if proposed_by is not None:
                report.status = ReportStatus.under_assessment
                session.flush()
                decision = decisions.propose(
                    session, staff(session, proposed_by), report, Disposal.talk_or_inquiry, today()
                )
                if confirmed_by:
                    decisions.confirm(
                        session, staff(session, confirmed_by), report, decision.id, today()
                    )
            session.flush()
        return {"report_id": done.report_id, "decision": decision.id if decision else ""}

    return values


def _decision_fields(values: dict) -> dict[str, str]:
    return {"decision": values["decision"]}


def _with_label(session: Session, app: Flask) -> dict[str, Any]:
    values = _mch_case()(session, app)
    from app.models import Report
    from app.services.cases import workflow

    report = session.get(Report, values["report_id"])
    workflow.add_label(session, staff(session, "mch.inspector"), report, "待核实")
    return values


def _recovery_shares(session: Session, app: Flask) -> dict[str, Any]:
    """MCH's recovery key made anew (2 of 3) and a case sent to it after."""
    from app.models import DisciplineOffice, Unit
    from app.services.recovery import recovery_ceremony

    with app.extensions["portal.db"].session() as own:  # committed before the case is sent
        unit = own.scalar(select(Unit).where(Unit.code == "MCH"))
        office = own.scalar(select(DisciplineOffice).where(DisciplineOffice.unit_id == unit.id))
        holders = ["吴刚", "刘洋", "赵磊"]
        sheets = recovery_ceremony(own, office, 2, 3, holders, utcnow().date(), replace=True)
        shares = [" ".join(sheet.words) for sheet in sheets]
    values = _mch_case()(session, app)
    values["shares"] = shares
    values["grantee"] = staff(session, "mch.inspector").id
    holders_ = [staff(session, "mch.head"), staff(session, "mch.inspector")]
    values["holders"] = [user.id for user in holders_]
    values["secrets"] = [user.totp_secret for user in holders_]
    return values


def _in_assessment(session: Session, app: Flask) -> dict[str, Any]:
    from app.models import Report, ReportStatus

    values = _mch_case()(session, app)
    session.get(Report, values["report_id"]).status = ReportStatus.under_assessment
    return values


def _recovery_fields(values: dict) -> dict[str, str]:
    return {
        "cases": values["report_id"],
        "grantee": str(values["grantee"]),
        "share1-holder": str(values["holders"][0]),
        "share1-words": values["shares"][0],
        # The next step's code: the head signed in with this step's, and a code is taken once.
        "share1-code": totp_now(values["secrets"][0], time.time() + 30),
        "share2-holder": str(values["holders"][1]),
        "share2-words": values["shares"][2],
        "share2-code": totp_now(values["secrets"][1], time.time() + 30),
    }


def _colleague(session: Session, app: Flask) -> dict[str, Any]:
    """A case that mch.inspector reads, and a colleague of MCH who joined after it came."""
    values = _mch_case()(session, app)
    from tests.helpers.cases import add_staff
    from tests.helpers.reports import Org

    org = Org(offices={"MCH": staff(session, "mch.inspector").office_id})
    values["grantee"] = add_staff(session, org, "mch.newcomer", "新任纪检员 马丽", "MCH").id
    return values


@dataclass(frozen=True)
class ConsolePost:
    """Who sends a console POST (None: nobody signed in, in a browser of its own), the path's
    values made in the demo database, and the fields with which the view takes it."""

    user: str | None
    values: Callable[[Session, Flask], dict[str, Any]] = _no_values
    fields: Callable[[dict], dict[str, str]] = lambda _values: {}
    # What the browser did first (the page before, with its own token); it may add values.
    prepare: Callable[[Any, dict, Flask], None] | None = None
    taken: int = 302  # the status of the same request with its token


CONSOLE_POSTS: dict[str, ConsolePost] = {
    "session.login": ConsolePost(None, fields=_login_fields),
    "session.password": ConsolePost(
        "mch.publisher",
        fields=lambda _v: {
            "current": "demo-mch-publisher",
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    ),
    "session.end_session": ConsolePost(
        "mch.inspector",
        _other_session("mch.inspector"),
        lambda v: {"session_id": v["session_id"]},
    ),
    "session.end_other_sessions": ConsolePost("chm.inspector", _other_session("chm.inspector")),
    "session.email": ConsolePost(
        "mch.inspector", fields=lambda _v: {"email": "liu.yang@jiwei.example.cn"}
    ),
    "session.enrol": ConsolePost(
        None,
        _enrolment_code("chm.head"),
        lambda v: {"username": v["username"], "code": v["enrolment_code"]},
    ),
    "session.enrol_finish": ConsolePost(
        None,
        _enrolment_code("mch.head"),
        lambda v: {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD, "code": v["totp"]},
        prepare=_enrolment_started,
        taken=200,  # the recovery codes, shown once in this answer
    ),
    # Anyone signed in may sign out; someone no other row needs signed in afterwards.
    "session.logout": ConsolePost("auditor"),
    "admin.add_entry": ConsolePost(
        "admin",
        fields=lambda _v: {
            "entry-category": "work-safety",
            "entry-unit": "CHM-W1",
            "entry-period": "quarterly",
            "entry-due_days": "20",
            "entry-scope": "everyone",
            "entry-starts_on": "2026-01-01",
        },
    ),
    "admin.toggle_entry": ConsolePost("admin", _catalogue_entry),
    "admin.save_category": ConsolePost(
        "admin",
        fields=lambda _v: {
            "cat-code": "canteen-affairs",
            "cat-domain": "factory",
            "cat-name_zh": "食堂事务",
            "cat-name_en": "Canteen affairs",
            "cat-active": "y",
        },
    ),
    "admin.seed_categories": ConsolePost("admin"),
    "admin.save_retention": ConsolePost(
        "admin", values=_retention_codes, fields=_retention_fields, taken=303
    ),
    "admin.add_unit": ConsolePost(
        "admin",
        _with_unit_ids("MCH", then=_no_values),
        lambda v: {
            "unit-code": "MCH-STEEL2",
            "unit-name_zh": "第二炼钢厂",
            "unit-name_en": "No. 2 Steelworks",
            "unit-kind": "workshop",
            "unit-parent": str(v["id_of_MCH"]),
        },
    ),
    "admin.rename_unit": ConsolePost(
        "admin",
        _unit_id("MCH-W1"),
        lambda _v: {"rename-name_zh": "第一铸造车间", "rename-name_en": "Casting Workshop No. 1"},
    ),
    "admin.move_unit": ConsolePost(
        "admin",
        _with_unit_ids("CHM", then=_unit_id("MCH-W2")),
        lambda v: {"move-parent": str(v["id_of_CHM"])},
    ),
    "admin.close_unit": ConsolePost("admin", _unit_id("CHM-W2")),
    "admin.reopen_unit": ConsolePost("admin", _unit_id("GRP-FIN", closed=True)),
    "admin.remove_unit": ConsolePost("admin", _unit_id("GRP-HR")),
    "admin.add_office": ConsolePost(
        "admin",
        _unit_id("CHM-W1"),
        lambda _v: {"office-office_zh": "合成车间纪检组", "office-office_en": "Synthesis Office"},
    ),
    "admin.add_staff": ConsolePost(
        "admin",
        fields=lambda _v: {
            "user-username": "wang.fang",
            "user-display_name": "纪检员 王芳",
            "user-roles": "inspector",
            "user-unit": "MCH",
            "user-office": "MCH",
        },
        taken=200,  # the enrolment code, shown once in this answer
    ),
    "admin.staff_roles": ConsolePost(
        "admin",
        _user_id("inspector"),
        lambda _v: {"roles-roles": "inspector", "roles-office": "GRP"},
    ),
    "admin.staff_email": ConsolePost(
        "admin", _user_id("inspector"), lambda _v: {"email-email": "chen.jing@jituan.example.cn"}
    ),
    # The staff rows act on the GRP inspector, whom no row signs in as.
    "admin.disable_staff": ConsolePost("admin", _user_id("inspector")),
    "admin.enable_staff": ConsolePost("admin", _user_id("inspector")),
    "admin.signout_staff": ConsolePost("admin", _user_id("inspector")),
    "admin.reset_staff": ConsolePost("admin", _user_id("inspector"), taken=200),
    "admin.check_shares": ConsolePost(
        "admin",
        _office_shares("CHM"),
        lambda v: {"check-shares-0": v["shares"][0], "check-shares-1": v["shares"][1]},
    ),
    "admin.ceremony": ConsolePost(
        "admin",
        _office_id("MCH"),
        lambda _v: {
            "ceremony-threshold": "2",
            "ceremony-count": "3",
            "ceremony-holders": "王芳\n李娜\n张伟",
            "ceremony-replace": "y",
        },
        taken=200,  # the share sheets, shown once in this answer
    ),
    "admin.add_report_category": ConsolePost(
        "admin",
        fields=lambda _v: {
            "new-code": "work_safety",
            "new-name_zh": "安全生产",
            "new-name_en": "Work safety",
        },
    ),
    "admin.rename_report_category": ConsolePost(
        "admin",
        _report_category,
        lambda _v: {
            "names-name_zh": "工作作风与纪律",
            "names-name_en": "Work style and discipline",
        },
    ),
    "admin.move_report_category_up": ConsolePost("admin", _report_category),
    "admin.move_report_category_down": ConsolePost("admin", _report_category),
    "admin.retire_report_category": ConsolePost("admin", _report_category),
    "admin.reinstate_report_category": ConsolePost("admin", _report_category),
    "admin.save_calendar": ConsolePost(
        "admin",
        fields=lambda _v: {
            "cal-year": "2027",
            "cal-holidays": "2027-10-01\n2027-10-02",
            "cal-workdays": "2027-10-09",
        },
    ),
    "publish.new": ConsolePost("publisher", fields=_draft_fields),
    "publish.edit": ConsolePost("publisher", _draft, _draft_fields),
    "publish.submit": ConsolePost("publisher", _draft),
    "publish.discard": ConsolePost("publisher", _amending),
    "publish.delete_attachment": ConsolePost(
        "publisher", lambda session, app: _draft(session, app, attachment=True)
    ),
    "publish.review": ConsolePost(
        "approver", _in_review, lambda _v: {"approve": "1", "comment": "同意公开"}
    ),
    "publish.amend": ConsolePost("publisher", _published),
    "congress.item": ConsolePost(
        "congress",
        _awaiting_congress,
        lambda _v: {"status": "reviewed", "opinion": "同意。建议加强对退休职工的解释工作。"},
    ),
    "publish.retract": ConsolePost("publisher", _published, lambda _v: {"reason": "金额有误"}),
    "publish.answer": ConsolePost(
        "approver",
        _pending_question,
        lambda v: {f"q{v['question_id']}-answer": "评分细则见招标文件第三章。", "publish": "1"},
    ),
    "cases.change_status": ConsolePost(
        "mch.inspector", _mch_case(), lambda _v: {"status": "acknowledged"}, taken=303
    ),
    "cases.assign": ConsolePost("mch.head", _mch_case(), lambda _v: {"assignee": ""}, taken=303),
    "cases.add_label": ConsolePost(
        "mch.inspector", _mch_case(), lambda _v: {"label": "待核实"}, taken=303
    ),
    "cases.remove_label": ConsolePost(
        "mch.inspector", _with_label, lambda _v: {"label": "待核实"}, taken=303
    ),
    "cases.add_note": ConsolePost(
        "mch.inspector", _mch_case(), lambda _v: {"text": "需约谈采购员。"}, taken=303
    ),
    "cases.reply": ConsolePost(
        "mch.inspector", _mch_case(), lambda _v: {"text": "已受理，请补充材料。"}, taken=303
    ),
    "cases.propose": ConsolePost(
        "mch.head",
        lambda session, app: _in_assessment(session, app),
        lambda _v: {"disposal": "talk_or_inquiry"},
        taken=303,
    ),
    "cases.confirm_decision": ConsolePost(
        "mch.inspector", _mch_case(proposed_by="mch.head"), _decision_fields, taken=303
    ),
    "cases.record_decision": ConsolePost(
        "mch.head",
        _mch_case(proposed_by="mch.head", confirmed_by="mch.inspector"),
        _decision_fields,
        taken=303,
    ),
    "cases.withdraw_decision": ConsolePost(
        "mch.head", _mch_case(proposed_by="mch.head"), _decision_fields, taken=303
    ),
    "cases.real_name": ConsolePost(
        "mch.head", _mch_case(), lambda _v: {"reason": "核实举报人身份"}, taken=200
    ),
    "cases.grant": ConsolePost(
        "mch.inspector", _colleague, lambda v: {"grantee": str(v["grantee"])}, taken=303
    ),
    "cases.recuse": ConsolePost("mch.inspector", _mch_case(), taken=303),
    "cases.transfer": ConsolePost("mch.head", _mch_case(), taken=303),
    "cases.export_case": ConsolePost(
        "mch.inspector",
        _mch_case(),
        lambda _v: {"typed": "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"},
        taken=200,
    ),
    "cases.recovery_run": ConsolePost("mch.head", _recovery_shares, _recovery_fields, taken=303),
}


# --- the public site ---------------------------------------------------------------------------


@dataclass
class PublicPost:
    """A public POST as a reporter or a reader sends it: the path's values, its fields, the
    text it must give back when refused (None: nothing typed is kept, e.g. a receipt code,
    which is then never shown back), whether it is a multipart form."""

    values: dict[str, Any]
    fields: dict[str, Any]
    kept: str | None
    multipart: bool = False
    hidden: list[str] = field(default_factory=list)  # typed, never to be shown back


def _question(_client) -> PublicPost:
    body = "请问除尘设备招标的评分细则在哪里可以看到？"
    return PublicPost({"disclosure_id": 3}, {"body": body}, kept=body)


def _report(client) -> PublicPost:
    fields = report_form_data(client, persons="车间主任 李某")
    del fields["csrf_token"]
    return PublicPost({}, fields, kept=CANARY, multipart=True)


def _sent_report_code(client) -> str:
    sent = post_report(client, report_form_data(client))
    assert sent.status_code == 200, "the report of the test was not stored"
    return "".join(re.findall(r"<span>(\d{4})</span>", sent.get_data(as_text=True)))


def _in_follow_up(client) -> None:
    code = _sent_report_code(client)
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    entered = client.post("/report/follow-up", data={"csrf_token": token, "code": code})
    assert entered.status_code == 303 and _follow_up_open(client)


def _code_entry(client) -> PublicPost:
    code = _sent_report_code(client)
    grouped = " ".join(code[i : i + 4] for i in range(0, 20, 4))
    return PublicPost({}, {"code": grouped}, kept=None, hidden=[code, grouped])


def _reply(client) -> PublicPost:
    _in_follow_up(client)
    text = "补充：经费去向见班组账本第12页。"
    return PublicPost({}, {"text": text}, kept=text, multipart=True)


def _leave(client) -> PublicPost:
    _in_follow_up(client)
    return PublicPost({}, {}, kept=None)


PUBLIC_POSTS: dict[str, Callable[[Any], PublicPost]] = {
    "disclosures.ask": _question,
    "reports.send": _report,
    "reports.enter": _code_entry,
    "reports.reply": _reply,
    "reports.leave": _leave,
}


# --- the walk ----------------------------------------------------------------------------------


def _state_changing_rules(app: Flask) -> list:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.methods & STATE_CHANGING),
        key=lambda rule: rule.rule,
    )


def _untested(app: Flask, table: dict) -> list[str]:
    """Why the table and the URL map disagree: each route missing from it, each stale entry."""
    rules = _state_changing_rules(app)
    problems = [
        f"{sorted(rule.methods & STATE_CHANGING)} {rule.rule} (endpoint {rule.endpoint!r}) has "
        f"no CSRF test: add it to the table in {__name__}"
        for rule in rules
        if rule.endpoint not in table
    ]
    endpoints = {rule.endpoint for rule in rules}
    problems += [
        f"{endpoint!r} is in the table but no route of the app has it: remove it"
        for endpoint in table
        if endpoint not in endpoints
    ]
    return problems


def _path(rule, values: dict[str, Any]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, f"{rule.rule}: the table gives no value for <{name}>"
        return str(values[name])

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule.rule)


def _database(app: Flask) -> dict[str, list[str]]:
    """Every row of every table, to tell that a refused request changed nothing."""
    with app.extensions["portal.db"].session() as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def _refused(response, language: str) -> str | None:
    """Why ``response`` is not the translated refusal of a form without a valid token."""
    page = response.get_data(as_text=True)
    if response.status_code != 400:
        return f"answered {response.status_code}, not 400"
    if EXPIRED[language] not in page:
        return f"the page does not say {EXPIRED[language]!r}"
    return None


def _tokens(app: Flask, path: str) -> list[tuple[str, dict[str, str], str]]:
    """The wrong tokens a form is sent with: none, a forged one, another session's real one."""
    other = app.test_client()
    foreign = csrf_token(other.get(path).get_data(as_text=True))
    return [
        ("no token", {}, "zh"),
        ("a forged token", {"csrf_token": FORGED}, "en"),
        ("another session's token", {"csrf_token": foreign}, "zh"),
    ]


def test_every_console_route_that_changes_something_is_in_the_table(sqlite_instance):
    problems = _untested(sqlite_instance.app("console"), CONSOLE_POSTS)
    assert not problems, "\n".join(problems)


def test_every_public_route_that_changes_something_is_in_the_table(sqlite_instance):
    problems = _untested(sqlite_instance.app("public"), PUBLIC_POSTS)
    assert not problems, "\n".join(problems)


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


@pytest.mark.slow
def test_every_console_post_is_refused_without_its_token(sqlite_instance, demo_sqlite):
    # Limits count refusals too (tests/security): here they would only end the walk early.
    app = sqlite_instance.app("console", RATELIMIT_ENABLED=False)
    assert not _untested(app, CONSOLE_POSTS), "see the test of the table"
    failures: list[str] = []
    clients: dict[str | None, Any] = {}
    for rule in _state_changing_rules(app):
        case = CONSOLE_POSTS[rule.endpoint]
        with app.extensions["portal.db"].session() as session:
            values = case.values(session, app)
        path = _path(rule, values)
        if case.user is None:  # a browser of its own
            client = app.test_client()
        elif case.user in clients:  # a TOTP code signs in once: one client per user
            client = clients[case.user]
        else:
            client = clients[case.user] = signed_in(app, case.user)
        if case.prepare is not None:
            case.prepare(client, values, app)
        fields = case.fields(values)
        # Signed in, every page carries the token (the sign-out form); else the sign-in page.
        page = "/" if case.user else "/login"
        own_token = csrf_token(client.get(page).get_data(as_text=True))
        before, was_signed_in = _database(app), _signed_in(client)
        for how, token, language in _tokens(app, "/login"):
            client.get(f"{page}?lang={language}")
            response = client.post(path, data={**fields, **token})
            why = _refused(response, language)
            if why:
                failures.append(f"{rule.rule} as {case.user} with {how}: {why}")
            if _database(app) != before or _signed_in(client) != was_signed_in:
                failures.append(f"{rule.rule} as {case.user} with {how}: something changed")
        # The same request with the session's own token is taken: the refusals were the token's.
        taken = client.post(path, data={**fields, "csrf_token": own_token})
        taken.get_data()  # a streamed answer (an export) is read to its end and closed here
        taken.close()
        if taken.status_code != case.taken:
            failures.append(
                f"{rule.rule} as {case.user} with its token: answered {taken.status_code}, "
                f"not {case.taken}: fix the table's values or fields"
            )
    assert not failures, "\n".join(failures)


# The public forms say it in their own words, and keep what was typed.
PUBLIC_EXPIRED = {"zh": "表单已过期", "en": "form had expired"}


def _follow_up_open(client) -> bool:
    """Whether this browser is in a follow-up session (its thread page, with the reply form)."""
    return 'name="text"' in client.get("/report/follow-up").get_data(as_text=True)


def _send(client, path: str, post: PublicPost, token: dict[str, str]):
    data = {**post.fields, **token}
    if post.multipart:
        return post_report(client, data, path=path)
    return client.post(path, data=data, follow_redirects=True)


@pytest.mark.slow
def test_every_public_post_is_refused_without_its_token_and_keeps_what_was_typed(
    sqlite_instance, demo_sqlite
):
    app = sqlite_instance.app("public", RATELIMIT_ENABLED=False)
    assert not _untested(app, PUBLIC_POSTS), "see the test of the table"
    failures: list[str] = []
    for rule in _state_changing_rules(app):
        client = app.test_client()
        post = PUBLIC_POSTS[rule.endpoint](client)
        path = _path(rule, post.values)
        before, was_open = _database(app), _follow_up_open(client)
        for how, token, language in _tokens(app, "/report/follow-up"):
            client.get(f"/report/?lang={language}")
            response = _send(client, path, post, token)
            page = response.get_data(as_text=True)
            where = f"{rule.rule} with {how}"
            if response.status_code != 400:
                failures.append(f"{where}: answered {response.status_code}, not 400")
            if PUBLIC_EXPIRED[language] not in page.lower():
                failures.append(f"{where}: the page does not say {PUBLIC_EXPIRED[language]!r}")
            if post.kept is not None and post.kept not in page:
                failures.append(f"{where}: what was typed is not given back")
            if any(secret in page for secret in post.hidden):
                failures.append(f"{where}: a secret typed in the form is shown back")
            if _database(app) != before or _follow_up_open(client) != was_open:
                failures.append(f"{where}: something changed")
        client.get("/report/?lang=zh")
        own_token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
        taken = _send(client, path, post, {"csrf_token": own_token})
        if taken.status_code != 200 or PUBLIC_EXPIRED["zh"] in taken.get_data(as_text=True):
            failures.append(
                f"{rule.rule} with its token: answered {taken.status_code}: fix the table"
            )
    assert not failures, "\n".join(failures)
