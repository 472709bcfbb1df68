"""Demo organisation and staff for trying the portal. Every secret here is public.

Every demo office has an inspector and an office head with keys sealed under their demo
passwords, and a 2-of-3 recovery key made by the same ceremony as a real one. With a blob
store and the receipt pepper the demo also sends reports, whose receipt codes are published,
and handles them as cases (app/services/reports/demo.py): the acts that decrypt use the
officers' keys, unsealed here with the demo's published passwords as a sign-in would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DisciplineOffice, Role, StaffUser, Unit, UnitKind
from app.services import keys
from app.services.blobs import BlobStore
from app.services.cases.deadlines import DeadlineRules
from app.services.disclosures.demo import load_demo_disclosures
from app.services.recovery import ShareSheet, recovery_ceremony
from app.services.reports.demo import DemoReport, load_demo_reports
from app.services.staff import create_user
from crypto import SealParams
from crypto.keys import X25519Identity
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions
from crypto.sealing import DEFAULT_SEAL_PARAMS

# code, parent code, kind, Chinese name, English name, has a discipline office
DEMO_UNITS = [
    ("GRP", None, UnitKind.enterprise, "华夏示范集团有限公司", "Huaxia Demo Group Co., Ltd.", True),
    ("GRP-HR", "GRP", UnitKind.department, "集团人力资源部", "Group Human Resources", False),
    ("GRP-FIN", "GRP", UnitKind.department, "集团财务部", "Group Finance", False),
    (
        "MCH",
        "GRP",
        UnitKind.subsidiary,
        "华夏重型机械有限公司",
        "Huaxia Heavy Machinery Co., Ltd.",
        True,
    ),
    ("MCH-W1", "MCH", UnitKind.workshop, "铸造车间", "Casting Workshop", False),
    ("MCH-W2", "MCH", UnitKind.workshop, "总装车间", "Final Assembly Workshop", False),
    ("MCH-PUR", "MCH", UnitKind.department, "采购部", "Procurement Department", False),
    (
        "CHM",
        "GRP",
        UnitKind.subsidiary,
        "华夏精细化工有限公司",
        "Huaxia Fine Chemicals Co., Ltd.",
        True,
    ),
    ("CHM-W1", "CHM", UnitKind.workshop, "合成车间", "Synthesis Workshop", False),
    ("CHM-W2", "CHM", UnitKind.workshop, "包装车间", "Packaging Workshop", False),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    totp_secret: str
    display_name: str
    roles: tuple[Role, ...]
    unit: str
    office: str | None = None


DEMO_LOGINS = [
    DemoLogin(
        "admin",
        "demo-admin-pass",
        "JBSWY3DPEHPK3PXPADMINDEMO2345672",
        "系统管理员 王敏",
        (Role.admin,),
        "GRP",
    ),
    DemoLogin(
        "publisher",
        "demo-publisher-pass",
        "JBSWY3DPEHPK3PXPPUBLISHERDEMO234",
        "公开专员 李娜",
        (Role.publisher,),
        "GRP",
    ),
    DemoLogin(
        "approver",
        "demo-approver-pass",
        "JBSWY3DPEHPK3PXPAPPROVERDEMO2345",
        "审核人 张伟",
        (Role.approver,),
        "GRP",
    ),
    DemoLogin(
        "mch.publisher",
        "demo-mch-publisher",
        "JBSWY3DPEHPK3PXPMCHPUBLISHERDEMO",
        "机械公司公开专员 赵磊",
        (Role.publisher,),
        "MCH",
    ),
    DemoLogin(
        "inspector",
        "demo-inspector-pass",
        "JBSWY3DPEHPK3PXPINSPECTORDEMO234",
        "集团纪检员 陈静",
        (Role.inspector,),
        "GRP",
        "GRP",
    ),
    DemoLogin(
        "mch.inspector",
        "demo-mch-inspector",
        "JBSWY3DPEHPK3PXPMCHINSPECTORDEMO",
        "机械公司纪检员 刘洋",
        (Role.inspector,),
        "MCH",
        "MCH",
    ),
    DemoLogin(
        "head",
        "demo-office-head",
        "JBSWY3DPEHPK3PXPOFFICEHEADDEMO23",
        "集团纪委书记 周强",
        (Role.office_head, Role.inspector),
        "GRP",
        "GRP",
    ),
    DemoLogin(
        "mch.head",
        "demo-mch-office-head",
        "JBSWY3DPEHPK3PXPMCHHEADDEMO23456",
        "机械公司纪委书记 吴刚",
        (Role.office_head,),
        "MCH",
        "MCH",
    ),
    DemoLogin(
        "chm.inspector",
        "demo-chm-inspector",
        "JBSWY3DPEHPK3PXPCHMINSPECTORDEMO",
        "化工公司纪检员 郑洁",
        (Role.inspector,),
        "CHM",
        "CHM",
    ),
    DemoLogin(
        "chm.head",
        "demo-chm-office-head",
        "JBSWY3DPEHPK3PXPCHMHEADDEMO23456",
        "化工公司纪委书记 黄磊",
        (Role.office_head,),
        "CHM",
        "CHM",
    ),
    DemoLogin(
        "auditor",
        "demo-auditor-pass",
        "JBSWY3DPEHPK3PXPAUDITORDEMO23456",
        "审计员 孙丽",
        (Role.auditor,),
        "GRP",
    ),
    DemoLogin(
        "congress",
        "demo-congress-pass",
        "JBSWY3DPEHPK3PXPCONGRESSDEMO2345",
        "职代会秘书 刘芳",
        (Role.congress_secretary,),
        "GRP",
    ),
]


# The officers who hold the shares of each demo office's recovery key (2 of 3 recover it).
DEMO_RECOVERY_THRESHOLD = 2
DEMO_SHARE_HOLDERS = {
    "GRP": ("周强", "张伟", "王敏"),
    "MCH": ("吴刚", "刘洋", "赵磊"),
    "CHM": ("黄磊", "郑洁", "李娜"),
}


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the logins, the recovery share sheets (they exist only once), and
    the reports whose receipt codes may be tried (none without a blob store and a pepper)."""

    logins: list[DemoLogin]
    share_sheets: list[ShareSheet]
    reports: list[DemoReport]


class DemoError(Exception):
    """The database already has data; demo data goes only into an empty one."""


def load_demo(
    session: Session,
    blobs: BlobStore | None = None,
    seal_params: SealParams = DEFAULT_SEAL_PARAMS,
    today: date | None = None,
    pepper: bytes | None = None,
    receipt_versions: ReceiptVersions = RECEIPT_VERSIONS,
    rules: DeadlineRules | None = None,
) -> DemoResult:
    """Create the demo organisation, staff, keys and disclosures in an empty database.

    The disclosures get their attachments only when a blob store is given. The recovery
    keys are dated ``today`` (default: the machine's date), the reports up to it.

    With a blob store and the installation's receipt ``pepper`` the demo reports are sent
    too, and handled as cases under the deadline ``rules``. Each is committed durably as the
    public site commits one, so everything before them is committed first: then ``session``
    must not be inside ``session.begin()``.
    """
    if session.scalar(select(Unit.id).limit(1)) is not None:
        raise DemoError("the database already has units; demo data goes only into a new database")
    units: dict[str, Unit] = {}
    offices: dict[str, DisciplineOffice] = {}
    for code, parent, kind, name_zh, name_en, has_office in DEMO_UNITS:
        unit = Unit(
            code=code,
            parent=units.get(parent) if parent else None,
            kind=kind,
            name_zh=name_zh,
            name_en=name_en,
        )
        session.add(unit)
        units[code] = unit
        if has_office:
            office = DisciplineOffice(
                unit=unit, name_zh=f"{name_zh}纪委", name_en=f"Discipline Committee, {name_en}"
            )
            session.add(office)
            offices[code] = office
    session.flush()
    for login in DEMO_LOGINS:
        create_user(
            session,
            login.username,
            login.display_name,
            login.password,
            login.roles,
            unit=units[login.unit],
            office=offices[login.office] if login.office else None,
            totp_secret=login.totp_secret,
            seal_params=seal_params,
        )
    sheets = []
    for code, office in offices.items():
        sheets += recovery_ceremony(
            session,
            office,
            DEMO_RECOVERY_THRESHOLD,
            len(DEMO_SHARE_HOLDERS[code]),
            DEMO_SHARE_HOLDERS[code],
            today or date.today(),
        )
    session.flush()
    load_demo_disclosures(session, blobs)
    reports: list[DemoReport] = []
    if blobs is not None and pepper is not None:
        session.commit()
        # The recovery keys were stored by UPDATE statements, which left the offices loaded
        # in this session as they were: read them again before routing reports to them.
        session.expire_all()
        reports = load_demo_reports(
            session,
            blobs,
            pepper,
            today or date.today(),
            receipt_versions,
            keys_of=_demo_keys(seal_params),
            rules=rules,
        )
    return DemoResult(DEMO_LOGINS, sheets, reports)


def _demo_keys(seal_params: SealParams):
    """A demo officer's identity, unsealed once with the published password (as at sign-in)."""
    passwords = {login.username: login.password for login in DEMO_LOGINS}
    unsealed: dict[str, list[X25519Identity]] = {}

    def keys_of(user: StaffUser) -> list[X25519Identity]:
        if user.username not in unsealed:
            unsealed[user.username] = [keys.unseal(user, passwords[user.username], seal_params)]
        return unsealed[user.username]

    return keys_of


def has_staff(session: Session) -> bool:
    return session.scalar(select(StaffUser.id).limit(1)) is not None
