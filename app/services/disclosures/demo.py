"""Demo disclosures: every category, revisions, a retraction, an overdue periodic item,
attachments and answered questions. Everything here is invented."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CongressStatus, Period, Scope, StaffUser
from app.services import units
from app.services.blobs import BlobStore
from app.services.disclosures import catalogue, congress, decisions, drafting, publishing, questions
from app.services.disclosures import categories as category_service
from app.services.disclosures.attachments import add_attachment
from app.services.disclosures.decisions import DecisionRecord, MeetingKind
from app.services.periods import period_range, periods_between

DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
DEMO_CSV = "序号,项目,金额（万元）\n1,除尘设备,128.6\n2,安装调试,12.4\n".encode()

# category, unit, scope, days ago, title, body, period
ITEMS: list[tuple[str, str, Scope, int, str, str, str | None]] = [
    ("major-decisions", "CHM", Scope.everyone, 200,
     "关于新建年产5000吨精细化工生产线项目的决策公告",
     "## 决策事项\n\n经公司党委会前置研究、董事会审议，决定新建年产5000吨精细化工生产线。\n\n"
     "- 总投资：3.2亿元\n- 建设周期：18个月\n- 资金来源：自有资金与银行贷款\n\n"
     "如有意见，请在本页提问。", None),
    ("budget-accounts", "GRP", Scope.everyone, 150, "集团2025年度财务预算执行情况",
     "| 项目 | 预算（亿元） | 执行（亿元） |\n| --- | --- | --- |\n| 营业收入 | 48.0 | 46.7 |\n"
     "| 利润总额 | 3.1 | 3.3 |\n\n执行率总体符合预期。", "2025"),
    ("procurement", "MCH-PUR", Scope.everyone, 120, "铸造车间除尘设备采购招标结果公示",
     "经公开招标，**华北环保设备有限公司**中标，中标金额 **128.6万元**。\n\n"
     "公示期5个工作日。对结果有异议的，可向采购部书面提出。", None),
    ("pay-welfare", "GRP", Scope.everyone, 100, "关于调整企业年金缴费比例的通知",
     "自2026年1月1日起，企业年金单位缴费比例由6%调整为7%，个人缴费比例保持2%不变。", None),
    ("party-dues", "MCH", Scope.everyone, 55, "机械公司党委关于上半年党费使用情况的说明",
     "2026年上半年，机械公司党委使用留存党费12.8万元：\n\n- 党员教育培训：7.5万元\n"
     "- 慰问困难党员和老党员：5.3万元\n\n使用情况已经党委会审议，欢迎党员和职工监督。", None),
    ("workers-congress", "GRP", Scope.everyone, 90, "集团第三届职工代表大会第二次会议决议",
     "大会审议通过了《2026年工作报告》《职工福利费使用方案》和《集体合同（草案）》。", None),
    ("party-decisions", "GRP", Scope.everyone, 80, "关于落实上级党委安全生产工作部署的情况",
     "集团党委制定了22条具体措施，已完成19条，其余3条正在推进。", None),
    ("organisation-life", "MCH", Scope.unit, 40, "机械公司党支部2026年组织生活会情况",
     "各党支部于3月召开组织生活会，开展批评与自我批评，查摆问题36条。", None),
    ("elections", "CHM", Scope.everyone, 70, "精细化工公司党委换届选举结果公告",
     "经党员大会选举产生新一届党委委员7名，其中书记1名、副书记1名。", None),
    ("member-admission", "MCH-W1", Scope.everyone, 30, "发展党员公示（铸造车间）",
     "拟发展预备党员：王建国（铸造车间工段长）。公示期7天。", None),
    ("member-appraisal", "GRP", Scope.party, 50, "2025年度民主评议党员结果",
     "参评党员412名，评为优秀的62名，合格的348名，基本合格的2名。", "2025"),
    ("party-dues", "GRP", Scope.party, 45, "2025年度党费收缴和使用情况",
     "全年收缴党费86.4万元，按规定上缴34.6万元，留存部分用于党员教育培训和慰问困难党员。",
     "2025"),
    ("conduct-problems", "GRP", Scope.everyone, 35, "关于公务用车专项整治发现问题的整改情况",
     "专项整治发现问题5个，已全部整改，收回违规使用车辆2辆。", None),
    ("discipline-outcomes", "GRP", Scope.everyone, 25, "2025年度执纪问责情况通报",
     "全年立案4件，给予党纪处分3人、政务处分2人，问责领导干部1人。", "2025"),
    ("pay-welfare", "CHM", Scope.everyone, 20, "Notice on the 2026 canteen meal subsidy",
     "From 1 April 2026 the canteen meal subsidy rises from **12 yuan** to **15 yuan** per "
     "working day for every employee of Huaxia Fine Chemicals.", None),
]  # fmt: skip
# Made after the retraction below, so that the demo's first items keep their numbers.
MORE_ITEMS: list[tuple[str, str, Scope, int, str, str, str | None]] = [
    ("budget-accounts", "CHM", Scope.everyone, 140, "Huaxia Fine Chemicals: the 2026 budget",
     "The board approved the **2026 budget** of Huaxia Fine Chemicals: operating revenue of "
     "1.42 billion yuan, total profit of 96 million yuan, capital spending of 320 million yuan, "
     "most of it for the new fine chemicals line.", "2026"),
]  # fmt: skip


# The first item's collective decision (a board meeting, one member absent, one dissent), and
# the items the workers' congress is asked to review.
DECIDED = "关于新建年产"
AWAITING_CONGRESS = "关于调整企业"
CONGRESS_OPINION = (
    "职工代表大会联席会议审议认为：项目符合公司发展规划，同意实施。\n\n"
    "建议：\n\n- 新生产线招聘优先考虑本公司富余职工；\n"
    "- 施工期间加强现场安全管理，定期向职工通报进度。"
)


def _demo_decision(today: date) -> DecisionRecord:
    return decisions.build_record(
        meeting_kind=MeetingKind.board.value,
        meeting_date=today - timedelta(days=205),
        present="王建华\n李明\n张秀英\n陈志强\n赵敏\n孙伟",
        absent="周涛",
        decision="同意新建年产5000吨精细化工生产线项目，总投资3.2亿元，授权经理层组织实施，"
        "项目建设情况每季度向董事会报告。",
        dissents="赵敏：建议分两期建设，以降低资金压力和市场风险。（周涛因公出差请假，会前书面表示同意。）",
        quorum=decisions.Quorum.parse(">1/2"),
        today=today,
    )


# Hazard checks, hazards fixed and drills of each quarter's safety report.
SAFETY_FIGURES = [(42, 117, 3), (38, 96, 2), (45, 102, 4), (40, 88, 2)]


def _user(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def _at(today: date, days_ago: int) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(2, 30), tzinfo=UTC)


def load_demo_disclosures(
    session: Session, blobs: BlobStore | None = None, today: date | None = None
) -> None:
    """Add demo disclosures to the demo organisation (after ``load_demo``'s units and staff).

    Attachments are added only when a blob store is given.
    """
    today = today or datetime.now(UTC).date()
    category_service.ensure_categories(session)
    categories = {c.code: c for c in category_service.list_categories(session, active_only=False)}
    unit_of = {u.code: u for u in units.all_units(session)}
    publisher = _user(session, "publisher")
    approver = _user(session, "approver")
    made = {}
    for code, unit, scope, days_ago, title, body, period in ITEMS:
        fields = drafting.DraftFields(title, body, categories[code], unit_of[unit], scope, period)
        fields.decision = _demo_decision(today) if title[:6] == DECIDED else None
        fields.congress_requested = title[:6] in (DECIDED, AWAITING_CONGRESS)
        made[title[:6]] = publishing.import_published(
            session, fields, _at(today, days_ago), author=publisher, approver=approver
        )

    procurement = made["铸造车间除尘"]
    if blobs is not None:
        for name, data in (("招标结果.pdf", DEMO_PDF), ("报价明细.csv", DEMO_CSV)):
            add_attachment(session, blobs, procurement, publisher, name, io.BytesIO(data), 1 << 20)
        session.flush()
    # An amendment: a corrected amount, with its reason and a visible diff.
    procurement.body = procurement.body.replace("128.6万元", "126.8万元")
    procurement.reason = "中标金额录入错误，更正为126.8万元。"
    procurement.work_author_id = publisher.id if publisher else None
    publishing.amend(session, procurement, at=_at(today, 118), approver=approver)

    pension = made["关于调整企业"]
    pension.body += "\n\n补充说明：已退休人员不受本次调整影响。"
    pension.reason = "补充对退休人员的说明。"
    publishing.amend(session, pension, at=_at(today, 95), approver=approver)

    # A retraction: the page becomes a notice with the reason, the history stays.
    retracted = publishing.import_published(
        session,
        drafting.DraftFields(
            "食堂承包商招标结果公示",
            "经评审，**某餐饮管理公司**中标食堂承包项目。",
            categories["procurement"],
            unit_of["CHM"],
        ),
        _at(today, 75),
        author=publisher,
        approver=approver,
    )
    retracted.reason = "评标过程中发现程序瑕疵，招标结果作废，将重新组织招标。"
    publishing.retract(session, retracted, at=_at(today, 72), approver=approver)

    for code, unit, scope, days_ago, title, body, period in MORE_ITEMS:
        fields = drafting.DraftFields(title, body, categories[code], unit_of[unit], scope, period)
        publishing.import_published(
            session, fields, _at(today, days_ago), author=publisher, approver=approver
        )

    # Answered questions (only the date is kept).
    q = questions.ask_question(
        session, pension, "退休职工的年金待遇会受这次调整影响吗？", today - timedelta(days=97)
    )
    if approver:
        questions.answer_question(
            session, q, approver, "不会。已退休人员按原方案领取。", today - timedelta(days=96)
        )
    q2 = questions.ask_question(
        session, procurement, "投标单位一共有几家？", today - timedelta(days=115)
    )
    if approver:
        questions.answer_question(
            session, q2, approver, "共有5家单位投标，3家进入详评。", today - timedelta(days=114)
        )
    questions.ask_question(session, procurement, "设备什么时候到货？", today - timedelta(days=3))

    _periodic_leaders_expenses(session, categories, unit_of, publisher, approver, today)

    # The workers' congress reviewed the new production line (its record has a dissent);
    # the pension change awaits its review.
    secretary = _user(session, "congress")
    if secretary is not None:
        decided = made[DECIDED]
        congress.record_review(
            session,
            decided,
            secretary,
            CongressStatus.under_review,
            "",
            at=_at(today, 195),
            audited=False,
        )
        congress.record_review(
            session,
            decided,
            secretary,
            CongressStatus.reviewed,
            CONGRESS_OPINION,
            at=_at(today, 185),
            audited=False,
        )

    # Work in progress for the console: one waiting for review, one scheduled.
    if publisher is not None and approver is not None:
        draft = drafting.create_draft(
            session,
            publisher,
            drafting.DraftFields(
                "2026年职工疗休养安排",
                "今年疗休养安排在6月至9月，分四批进行。",
                categories["pay-welfare"],
                unit_of["GRP"],
            ),
        )
        drafting.submit_for_review(session, draft, publisher)
    session.flush()


def _periodic_leaders_expenses(session, categories, unit_of, publisher, approver, today) -> None:
    """Half-yearly leaders' expenses, every period published except the latest one due (the
    one overdue item of the demo); quarterly safety reports, all on time."""
    starts_on = date(today.year - 2, 1, 1)
    entry = catalogue.add_catalogue_entry(
        session,
        categories["leaders-expenses"],
        unit_of["GRP"],
        Period.half_yearly,
        30,
        starts_on,
    )
    # Quarterly safety reports of this year, each published on time.
    safety = catalogue.add_catalogue_entry(
        session,
        categories["work-safety"],
        unit_of["MCH"],
        Period.quarterly,
        15,
        date(today.year, 1, 1),
    )
    for key in periods_between(safety.period, safety.starts_on, today):
        end = period_range(key)[1]
        if end + timedelta(days=10) >= today:
            continue
        year, quarter = key.split("-Q")
        checks, fixed, drills = SAFETY_FIGURES[(int(quarter) - 1) % len(SAFETY_FIGURES)]
        publishing.import_published(
            session,
            drafting.DraftFields(
                f"{year}年第{'一二三四'[int(quarter) - 1]}季度安全生产情况通报",
                f"本季度未发生一般及以上生产安全事故。\n\n1. 开展隐患排查{checks}次\n"
                f"2. 整改隐患{fixed}项\n3. 组织应急演练{drills}次",
                categories["work-safety"],
                unit_of["MCH"],
                Scope.everyone,
                key,
            ),
            datetime.combine(end + timedelta(days=10), time(2, 0), tzinfo=UTC),
            author=publisher,
            approver=approver,
        )
    keys = periods_between(entry.period, starts_on, today)
    due = [k for k in keys if period_range(k)[1] + timedelta(days=entry.due_days) < today]
    for key in due[:-1]:
        end = period_range(key)[1]
        publishing.import_published(
            session,
            drafting.DraftFields(
                f"集团领导人员履职待遇和业务支出情况（{key}）",
                "| 项目 | 金额（万元） |\n| --- | --- |\n| 公务用车 | 4.2 |\n"
                "| 业务招待 | 1.8 |\n| 国内差旅 | 3.5 |\n| 因公出国（境） | 0 |",
                categories["leaders-expenses"],
                unit_of["GRP"],
                Scope.everyone,
                key,
            ),
            datetime.combine(end + timedelta(days=20), time(2, 0), tzinfo=UTC),
            author=publisher,
            approver=approver,
        )
