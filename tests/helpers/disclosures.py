"""Helpers for tests of disclosures: demo staff, draft fields, publishing through the services."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import StaffUser
from app.services import units
from app.services.disclosures import categories, drafting, reviewing


def sign_log(db) -> None:
    """Sign a checkpoint covering the log, as the console does after every approval."""
    from app.db import get_session
    from app.web import runtime

    with db.app.app_context():
        runtime.refresh_checkpoint(get_session())


def staff(session: Session, username: str) -> StaffUser:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def draft_fields(session: Session, **overrides) -> drafting.DraftFields:
    values = {
        "title": "测试公开事项",
        "body": "正文第一段。\n\n正文第二段。",
        "category": categories.category_by_code(session, "procurement"),
        "unit": units.by_code(session, "MCH"),
    }
    values.update(overrides)
    return drafting.DraftFields(**values)


def publish_item(db, **overrides) -> int:
    """Draft, submit and approve an item through the service; returns its id."""
    with db() as session:
        author = staff(session, "publisher")
        disclosure = drafting.create_draft(session, author, draft_fields(session, **overrides))
        drafting.submit_for_review(session, disclosure, author)
        reviewing.approve(session, disclosure, staff(session, "approver"))
        disclosure_id = disclosure.id
    sign_log(db)
    return disclosure_id


def schedule_due_item(db, **overrides) -> int:
    """An item approved for a later publication whose time has just come; returns its id."""
    with db() as session:
        author = staff(session, "publisher")
        disclosure = drafting.create_draft(session, author, draft_fields(session, **overrides))
        drafting.submit_for_review(session, disclosure, author)
        disclosure.scheduled_at = utcnow() + timedelta(hours=1)
        reviewing.approve(session, disclosure, staff(session, "approver"))
        disclosure.scheduled_at = utcnow() - timedelta(minutes=1)
        return disclosure.id
