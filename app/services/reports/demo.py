"""Demo reports: one in each state, at each demo office, sent and answered through the services.

Their receipt codes are fixed and published (README, ``portal demo``), so that anyone trying a
demo instance can follow a report up at once. Real receipt codes are drawn at random and shown
once; only this module passes ``submit`` a code of its own. Everything here is invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Report, ReportStatus, StaffUser
from app.services.blobs import BlobStore
from app.services.reports import followup
from app.services.reports.messages import post_office_message
from app.services.reports.submission import ReportFields, submit
from app.services.reports.uploads import Upload, UploadBatch
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
        status=ReportStatus.in_progress,
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


def load_demo_reports(
    session: Session,
    blobs: BlobStore,
    pepper: bytes,
    today: date,
    receipt_versions: ReceiptVersions = RECEIPT_VERSIONS,
) -> list[DemoReport]:
    """Send the demo reports and their threads (after ``load_demo``'s staff and keys).

    Each report is submitted, and each reporter reply sent, as the public site does: committed
    durably, so ``session`` must not be inside ``session.begin()``, and its transaction must
    hold nothing uncommitted. Office messages and the states the console would set are
    committed here too.
    """
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
        identity = None
        for message in demo.thread:
            on = today - timedelta(days=message.days_ago)
            files = _uploads(blobs, message.files)
            if message.by is None:
                if identity is None:
                    opened = followup.open_by_code(session, pepper, demo.code, receipt_versions)
                    assert opened is not None
                    identity = opened.identity
                followup.reply(session, blobs, report, identity, message.text, files, on)
            else:
                writer = _staff(session, message.by)
                post_office_message(session, blobs, report, writer, message.text, files, on)
                session.commit()
        # No service moves a case on yet: the console's case handling will.
        report.status = demo.status
        session.commit()
    return list(DEMO_REPORTS)
