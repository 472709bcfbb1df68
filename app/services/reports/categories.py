"""The categories of anonymous reports: rows of ``report_categories`` the administrator keeps.

A report keeps its category's code for good. A category is never deleted: a retired one is no
longer offered on the report form, while the reports filed under it keep it and the console's
filters, case pages and the statistics still name it. Codes are short (they fit the reports'
column) and never change; names change in both languages at once.
"""

from __future__ import annotations

import re

from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ReportCategoryEntry
from app.models.reports import CATEGORY_CODE_LENGTH
from app.services.names import clean_name

CODE_PATTERN = re.compile(rf"[a-z0-9_-]{{2,{CATEGORY_CODE_LENGTH}}}")
MAX_NAME = 200


class CategoryError(Exception):
    """A change of the categories was refused; ``reason`` is one of the keys below, for the
    view to phrase: ``bad_code``, ``duplicate``, ``bad_name``, ``unknown``, ``last_offered``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def list_categories(session: Session, *, active_only: bool = False) -> list[ReportCategoryEntry]:
    """The categories in the order the form offers them (``position``, then code)."""
    query = select(ReportCategoryEntry).order_by(
        ReportCategoryEntry.position, ReportCategoryEntry.code
    )
    if active_only:
        query = query.where(ReportCategoryEntry.active.is_(True))
    return list(session.scalars(query))


def codes(session: Session) -> list[str]:
    """Every category's code, retired ones included, in order."""
    return [c.code for c in list_categories(session)]


def names(session: Session, locale: str) -> dict[str, str]:
    """Every category's name in ``locale`` by code, retired ones included, in order."""
    return {c.code: c.name(locale) for c in list_categories(session)}


def is_offered(session: Session, code: object) -> bool:
    """Whether ``code`` is a category the report form offers now."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        return False
    found = session.get(ReportCategoryEntry, code)
    return found is not None and found.active


def _names(name_zh: object, name_en: object) -> tuple[str, str]:
    checked = []
    for value in (name_zh, name_en):
        text = clean_name(value)
        if not text or len(text) > MAX_NAME:
            raise CategoryError("bad_name")
        checked.append(text)
    return checked[0], checked[1]


def add_category(
    session: Session, code: object, name_zh: object, name_en: object
) -> ReportCategoryEntry:
    """A new category, offered at once, placed last. CategoryError ``bad_code`` unless the code
    is 2 to 24 of a-z, 0-9, ``_`` and ``-``; ``duplicate`` if a category has it already."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise CategoryError("bad_code")
    zh, en = _names(name_zh, name_en)
    if session.get(ReportCategoryEntry, code) is not None:
        raise CategoryError("duplicate")
    last = session.scalar(select(func.max(ReportCategoryEntry.position)))
    category = ReportCategoryEntry(
        code=code, name_zh=zh, name_en=en, position=(last or 0) + 1, active=True
    )
    try:
        with session.begin_nested():  # the same code added at the same moment by another
            session.add(category)
    except IntegrityError:
        raise CategoryError("duplicate") from None
    return category


def category_by_code(session: Session, code: object) -> ReportCategoryEntry:
    """The category of ``code``, or CategoryError ``unknown``."""
    found = None
    if isinstance(code, str) and CODE_PATTERN.fullmatch(code):
        found = session.get(ReportCategoryEntry, code)
    if found is None:
        raise CategoryError("unknown")
    return found


def rename(session: Session, code: object, name_zh: object, name_en: object) -> ReportCategoryEntry:
    """Give the category of ``code`` new names in both languages."""
    category = category_by_code(session, code)
    category.name_zh, category.name_en = _names(name_zh, name_en)
    session.flush()
    return category


LOCK_ID = 0x6361_7473  # "cats": PostgreSQL's advisory lock of the categories offered


def _lock(session: Session) -> None:
    """Hold the categories offered until the transaction ends, and read them anew: of two
    retirements at the same moment the second counts what the first left (PostgreSQL: an
    advisory lock; SQLite: a write that changes nothing takes the database's one writer)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
    elif dialect == "sqlite":
        session.execute(
            update(ReportCategoryEntry).where(false()).values(active=ReportCategoryEntry.active),
            execution_options={"synchronize_session": False},
        )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, ReportCategoryEntry):
            session.expire(loaded, ["active"])


def set_active(session: Session, code: object, active: bool) -> ReportCategoryEntry:
    """Retire the category (``active`` False: no longer offered) or offer it again.
    CategoryError ``last_offered``: the form must offer one category at least, also when
    two are retired at the same moment."""
    _lock(session)
    category = category_by_code(session, code)
    if not active and category.active and len(list_categories(session, active_only=True)) <= 1:
        raise CategoryError("last_offered")
    category.active = active
    session.flush()
    return category


def move(session: Session, code: object, step: int) -> ReportCategoryEntry:
    """Move the category one place up (``step`` -1) or down (+1) in the form's order; at an
    end it stays where it is. Positions are renumbered 0, 1, 2... on the way."""
    category = category_by_code(session, code)
    ordered = list_categories(session)
    index = ordered.index(category)
    target = index + (1 if step > 0 else -1)
    if 0 <= target < len(ordered):
        ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, entry in enumerate(ordered):
        entry.position = position
    session.flush()
    return category
