"""Demo reports: one in each state, at each demo office, sent and handled through the services.

Their receipt codes are fixed and published (README, ``portal demo``), so that anyone trying a
demo instance can follow a report up at once. Real receipt codes are drawn at random and shown
once; only this module passes ``submit`` a code of its own. Everything here is invented.

Each report is then handled as the console would handle it, by the services the console calls
(status changes, assignment, labels, internal notes, replies, a decision taken by two members,
openings of the case and of a real name), so that the cases stand in the inbox in their states
and every act is on the audit trail. Opening a case takes the reader's key: the demo unseals
it with the demo's published password, as signing in would.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Disposal, Report, ReportStatus, StaffUser
from app.services.blobs import BlobStore
from app.services.cases import decisions, notes, reading, workflow
from app.services.cases.deadlines import DeadlineRules
from app.services.reports import followup
from app.services.reports.submission import ReportFields, submit
from app.services.reports.uploads import Upload, UploadBatch
from crypto.keys import X25519Identity
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions

# (file name, content type, bytes): small enough to show in a demo, named in Chinese.
DemoFile = tuple[str, str, bytes]


@dataclass(frozen=True)
class DemoMessage:
    """A message of the thread: from the office (``by``: the writer's username) or the reporter."""

    days_ago: int
    text: str
    by: str | None = None  # None: the reporter, replying with the receipt code
    files: tuple[DemoFile, ...] = ()


class Act(enum.StrEnum):
    """What a member of the office does on a case, each through the console's service."""

    status = "status"  # workflow.change_status to ``value``
    assign = "assign"  # workflow.assign to the account ``value``
    label = "label"  # workflow.add_label ``value``
    note = "note"  # notes.add_note with the text ``value``
    open = "open"  # reading.open_case (decrypts; the case is then seen as it stands)
    real_name = "real_name"  # reading.open_real_name, the reason ``value``
    propose = "propose"  # decisions.propose the disposal ``value``
    confirm = "confirm"  # decisions.confirm the pending decision
    record = "record"  # decisions.record it (two members at least, a head among them)


@dataclass(frozen=True)
class DemoAct:
    """One act of the office on ``days_ago`` (before the thread's messages of that day)."""

    days_ago: int
    by: str  # the username of the member who acts
    act: Act
    value: str = ""


@dataclass(frozen=True)
class DemoReport:
    """A demo report: its published receipt code, where it lands and how far it has come."""

    code: str
    status: ReportStatus
    office: str  # unit code of the office that receives it (routing decides; checked)
    summary: str
    fields: ReportFields = field(repr=False)
    days_ago: int = 0
    files: tuple[DemoFile, ...] = ()
    thread: tuple[DemoMessage, ...] = ()
    handling: tuple[DemoAct, ...] = ()


PRICE_LIST = (
    "型砂采购单价对比（摘自车间采购台账）\n"
    "日期,供应商,单价（元/吨）,框架协议价（元/吨）\n"
    "3月12日,某商贸公司,980,810\n"
    "4月20日,某商贸公司,1010,810\n"
).encode()
OVERTIME_LIST = (
    "二班加班记录（本人记得的几天）\n"
    "日期,报加班人数,实际在岗人数\n"
    "第一周周六,12,7\n"
    "第三周周日,11,6\n"
).encode()

# The codes are the first 80 decimals of pi: easy to tell apart, and plainly not random.
DEMO_REPORTS = (
    DemoReport(
        code="3141 5926 5358 9793 2384",
        status=ReportStatus.received,
        office="MCH",
        summary="铸造车间型砂采购未经比价（附件）",
        fields=ReportFields(
            kind="misconduct",
            category="procurement_bidding",
            unit_code="MCH-W1",
            level="middle_manager",
            persons="铸造车间副主任（分管物资采购）",
            what=(
                "今年以来，铸造车间采购的型砂和耐火材料多次未经比价，直接从车间副主任亲属开办的"
                "商贸公司购入，单价比采购部年度框架协议价高出约两成。车间台账里的询价记录是事后"
                "补填的。"
            ),
            when="今年3月至今",
            where="铸造车间材料库、车间办公室",
            witnesses="车间材料员、库管员可能了解情况",
            reporter_copy=True,
        ),
        files=(("型砂采购单价对比.txt", "text/plain", PRICE_LIST),),
    ),
    DemoReport(
        code="6264 3383 2795 0288 4197",
        status=ReportStatus.acknowledged,
        office="CHM",
        summary="包装车间用劳保经费买购物卡（实名）",
        fields=ReportFields(
            kind="misconduct",
            category="eight_point_rules",
            unit_code="CHM-W2",
            level="middle_manager",
            persons="包装车间主任",
            what=(
                "春节前，包装车间主任用车间劳保经费买了一批购物卡，以“节日慰问”的名义只发给了"
                "车间管理人员。"
            ),
            when="今年春节前",
            where="包装车间办公室",
            real_name="李明",
            contact="包装车间，内线电话 6021",
            reporter_copy=True,
        ),
        days_ago=5,
        handling=(
            DemoAct(4, "chm.inspector", Act.open),
            DemoAct(4, "chm.inspector", Act.status, "acknowledged"),
            DemoAct(
                3,
                "chm.head",
                Act.real_name,
                "实名举报，需确认能否当面联系举报人了解购物卡发放情况",
            ),
            DemoAct(3, "chm.head", Act.assign, "chm.inspector"),
            DemoAct(
                2,
                "chm.inspector",
                Act.note,
                "已与财务部核对：春节前劳保经费有一笔 2.4 万元支出，用途写“节日慰问品”。"
                "待举报人答复发放日期和面额后再调取发放签收单。",
            ),
            DemoAct(2, "chm.inspector", Act.label, "八项规定"),
        ),
        thread=(
            DemoMessage(
                2,
                "您好，您的举报已收到，我们正在了解情况。请问购物卡大约是哪一天发放的？每张面额"
                "多少？除车间管理人员外，还有谁知道此事？请在本页回复。",
                by="chm.inspector",
            ),
        ),
    ),
    DemoReport(
        code="1693 9937 5105 8209 7494",
        status=ReportStatus.under_assessment,
        office="MCH",
        summary="总装车间虚报加班工时",
        fields=ReportFields(
            kind="misconduct",
            category="misuse_of_funds",
            unit_code="MCH-W2",
            level="staff",
            persons="总装车间二班班长",
            what=(
                "二班班长长期虚报班组加班工时，把没有加班的人也报上去，多出来的加班费再由他统一"
                "收回。"
            ),
            when="近三个月",
            where="总装车间二班",
            witnesses="二班的部分职工",
            reporter_copy=True,
        ),
        days_ago=40,
        handling=(
            DemoAct(39, "mch.inspector", Act.open),
            DemoAct(39, "mch.inspector", Act.status, "acknowledged"),
            DemoAct(38, "mch.head", Act.assign, "mch.inspector"),
            DemoAct(36, "mch.inspector", Act.status, "under_assessment"),
            DemoAct(36, "mch.inspector", Act.label, "考勤比对"),
            DemoAct(
                30,
                "mch.inspector",
                Act.note,
                "已调取二班近三个月的考勤记录和加班审批单。举报人所列两个周末，审批单上的加班"
                "人数比门禁记录多 5 人。下一步建议初步核实，报吴刚书记一起研究。",
            ),
            DemoAct(2, "mch.inspector", Act.propose, "preliminary_verification"),
            DemoAct(2, "mch.inspector", Act.open),
        ),
        thread=(
            DemoMessage(
                36,
                "您好，您反映的问题已受理，正在初步核实。请问虚报加班主要集中在哪几个月？如有"
                "记录，可以在这里补充。",
                by="mch.inspector",
            ),
            DemoMessage(
                33,
                "主要是上个季度的周末。我把记得的几天整理了一下，附在后面。",
                files=(("加班记录（摘录）.txt", "text/plain", OVERTIME_LIST),),
            ),
            DemoMessage(
                30,
                "收到，谢谢您的补充。我们已调取车间考勤和加班审批记录进行比对，有进展会在这里"
                "告诉您。",
                by="mch.inspector",
            ),
        ),
    ),
    DemoReport(
        code="4592 3078 1640 6286 2089",
        status=ReportStatus.concluded,
        office="GRP",
        summary="精细化工公司副总经理公车私用（领导：集团纪委）",
        fields=ReportFields(
            kind="misconduct",
            category="eight_point_rules",
            unit_code="CHM",
            level="unit_leader",
            persons="精细化工公司一名副总经理",
            what="这位副总经理多次在周末用公司公务用车接送家属，车辆出入记录和加油记录可以查到。",
            when="去年下半年以来",
            where="公司车队",
            witnesses="车队驾驶员",
            # Its reporter kept no copy: the follow-up page shows that case too.
        ),
        days_ago=75,
        handling=(
            DemoAct(74, "inspector", Act.open),
            DemoAct(74, "inspector", Act.status, "acknowledged"),
            DemoAct(72, "head", Act.assign, "inspector"),
            DemoAct(70, "inspector", Act.status, "under_assessment"),
            DemoAct(70, "inspector", Act.label, "公车使用"),
            DemoAct(
                40,
                "inspector",
                Act.note,
                "已调取车队出车登记和加油卡记录：去年下半年周末出车 9 次，均无公务用车审批单；"
                "两名驾驶员证实是接送家属。建议谈话函询。",
            ),
            DemoAct(40, "inspector", Act.open),
            DemoAct(20, "inspector", Act.propose, "talk_or_inquiry"),
            DemoAct(19, "head", Act.open),
            DemoAct(19, "head", Act.confirm),
            DemoAct(19, "head", Act.record),
            DemoAct(
                10,
                "head",
                Act.note,
                "已诫勉谈话，本人写出书面说明，已退赔车辆使用费用 3,860 元；集团内通报。",
            ),
            DemoAct(10, "head", Act.status, "concluded"),
        ),
        thread=(
            DemoMessage(70, "您好，您的举报已收到，集团纪委已安排核实。", by="inspector"),
            DemoMessage(
                10,
                "经核实，您反映的公车私用问题基本属实。集团纪委已对相关人员诫勉谈话，责令其退赔"
                "相关费用，并在集团内通报。感谢您的监督，本件已办结。",
                by="head",
            ),
        ),
    ),
)


def _uploads(blobs: BlobStore, files: Sequence[DemoFile]) -> list[Upload]:
    """The files as the public form's uploads are made: encrypted into the blob store."""
    batch = UploadBatch(blobs)
    for name, content_type, data in files:
        batch.new_file(name, content_type).write(data)
    return batch.finish()


def _staff(session: Session, username: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise LookupError(f"the demo has no staff account {username!r}")
    return user


def _act(
    session: Session,
    blobs: BlobStore,
    report: Report,
    act: DemoAct,
    on: date,
    rules: DeadlineRules,
    keys_of: Callable[[StaffUser], Sequence[X25519Identity]],
) -> None:
    """Do ``act`` on the report's case through the service the console's page calls."""
    staff = _staff(session, act.by)
    if act.act == Act.status:
        workflow.change_status(session, staff, report, ReportStatus(act.value), on, rules)
    elif act.act == Act.assign:
        workflow.assign(session, staff, report, _staff(session, act.value).id)
    elif act.act == Act.label:
        workflow.add_label(session, staff, report, act.value)
    elif act.act == Act.note:
        notes.add_note(session, blobs, staff, report, act.value, on)
    elif act.act == Act.open:
        opened = reading.open_case(session, blobs, staff, report, keys_of(staff), on)
        if opened.text is None:  # the demo's keys must open its reports: say so here
            raise RuntimeError(f"{staff.username} cannot open demo report {report.id}")
    elif act.act == Act.real_name:
        reading.open_real_name(session, blobs, staff, report, keys_of(staff), act.value)
    elif act.act == Act.propose:
        decisions.propose(session, staff, report, Disposal(act.value), on)
    elif act.act in (Act.confirm, Act.record):
        pending = decisions.pending_decision(session, report)
        if pending is None:  # the demo's script must propose first: say so here
            raise RuntimeError(f"demo report {report.id} has no pending decision to {act.act}")
        if act.act == Act.confirm:
            decisions.confirm(session, staff, report, pending.id, on)
        else:
            decisions.record(session, staff, report, pending.id, on)


def load_demo_reports(
    session: Session,
    blobs: BlobStore,
    pepper: bytes,
    today: date,
    receipt_versions: ReceiptVersions = RECEIPT_VERSIONS,
    *,
    keys_of: Callable[[StaffUser], Sequence[X25519Identity]],
    rules: DeadlineRules | None = None,
) -> list[DemoReport]:
    """Send the demo reports and their threads (after ``load_demo``'s staff and keys), and
    handle each case as its office would have, day by day.

    Each report is submitted, and each reporter reply sent, as the public site does: committed
    durably, so ``session`` must not be inside ``session.begin()``, and its transaction must
    hold nothing uncommitted. Every act of the office is committed as the console commits it.
    ``keys_of`` gives a staff member's unsealed keys, for the acts that decrypt.
    """
    rules = rules or DeadlineRules()
    for demo in DEMO_REPORTS:
        received_on = today - timedelta(days=demo.days_ago)
        submitted = submit(
            session,
            blobs,
            pepper,
            demo.fields,
            _uploads(blobs, demo.files),
            received_on,
            receipt_versions,
            draw_code=lambda code=demo.code: code,
        )
        report = session.get(Report, submitted.report_id)
        assert report is not None
        if report.office.unit.code != demo.office:  # the routing rules changed: say so here
            raise RuntimeError(f"demo report {demo.code} went to {report.office.unit.code}")
        # The office's acts of a day come before the day's messages (a status is set, then
        # the reporter told); sorted() keeps each tuple's own order within a day.
        events = sorted(
            [(act.days_ago, 0, act) for act in demo.handling]
            + [(message.days_ago, 1, message) for message in demo.thread],
            key=lambda event: (-event[0], event[1]),
        )
        identity = None
        for days_ago, _order, event in events:
            on = today - timedelta(days=days_ago)
            if isinstance(event, DemoAct):
                _act(session, blobs, report, event, on, rules, keys_of)
                session.commit()
                continue
            files = _uploads(blobs, event.files)
            if event.by is None:
                if identity is None:
                    opened = followup.open_by_code(session, pepper, demo.code, receipt_versions)
                    assert opened is not None
                    identity = opened.identity
                followup.reply(session, blobs, report, identity, event.text, files, on)
            else:
                writer = _staff(session, event.by)
                workflow.reply(session, blobs, writer, report, event.text, files, on)
                session.commit()
        if report.status != demo.status:  # the acts above no longer lead there: say so here
            raise RuntimeError(f"demo report {demo.code} ended {report.status}")
    return list(DEMO_REPORTS)
