"""Disclosure categories: the standard factory-affairs and party-affairs set, and lookups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    DisclosureCategory,
    Domain,
)

# --- categories -----------------------------------------------------------------------------

# code, domain, Chinese name, English name (factory-affairs and party-affairs disclosure rules)
DEFAULT_CATEGORIES: list[tuple[str, Domain, str, str]] = [
    (
        "major-decisions",
        Domain.factory,
        "“三重一大”事项",
        "Major decisions, appointments, projects and fund use",
    ),
    ("budget-accounts", Domain.factory, "财务预决算", "Budgets and final accounts"),
    ("procurement", Domain.factory, "采购与招投标", "Procurement and bidding"),
    (
        "pay-welfare",
        Domain.factory,
        "薪酬、福利与社会保险",
        "Pay, bonuses, welfare and social insurance",
    ),
    ("work-safety", Domain.factory, "安全生产", "Work safety"),
    (
        "leaders-expenses",
        Domain.factory,
        "领导人员薪酬及履职待遇、业务支出",
        "Leaders' pay, allowances, vehicles, entertainment and travel",
    ),
    ("workers-congress", Domain.factory, "职代会决议", "Workers' congress resolutions"),
    ("party-decisions", Domain.party, "贯彻落实上级决策部署", "Implementation of decisions"),
    ("organisation-life", Domain.party, "组织生活", "Organisation life"),
    ("elections", Domain.party, "党组织换届选举", "Elections"),
    ("member-admission", Domain.party, "发展党员", "Admitting members"),
    ("member-appraisal", Domain.party, "民主评议党员", "Member appraisal"),
    ("party-dues", Domain.party, "党费收缴和使用", "Party dues collection and use"),
    ("conduct-problems", Domain.party, "作风问题整改", "Conduct problems"),
    (
        "discipline-outcomes",
        Domain.party,
        "执纪问责结果",
        "Discipline outcomes and accountability cases",
    ),
]


def ensure_categories(session: Session) -> int:
    """Add the standard categories that are missing; returns how many were added."""
    existing = set(session.scalars(select(DisclosureCategory.code)))
    added = 0
    for position, (code, domain, name_zh, name_en) in enumerate(DEFAULT_CATEGORIES):
        if code in existing:
            continue
        session.add(
            DisclosureCategory(
                code=code, domain=domain, name_zh=name_zh, name_en=name_en, position=position
            )
        )
        added += 1
    session.flush()
    return added


def list_categories(session: Session, *, active_only: bool = True) -> list[DisclosureCategory]:
    query = select(DisclosureCategory).order_by(
        DisclosureCategory.domain, DisclosureCategory.position, DisclosureCategory.id
    )
    if active_only:
        query = query.where(DisclosureCategory.active.is_(True))
    return list(session.scalars(query))


def category_by_code(session: Session, code: str) -> DisclosureCategory | None:
    return session.scalar(select(DisclosureCategory).where(DisclosureCategory.code == code))
