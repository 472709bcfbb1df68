"""Questions readers ask about a published item, and the answers staff publish."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Disclosure,
    DisclosureQuestion,
    PublicState,
    QuestionState,
    StaffUser,
)
from app.services import units
from app.services.disclosures import (
    steps,
)
from app.services.disclosures.errors import DisclosureError, WrongState

QUESTION_MIN = 5
QUESTION_MAX = 2000


def ask_question(
    session: Session, disclosure: Disclosure, body: str, today: date
) -> DisclosureQuestion:
    """Store a worker's question: the text and the date, nothing about who asked or when."""
    body = body.strip()
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Questions can only be asked about a published item."))
    if not QUESTION_MIN <= len(body) <= QUESTION_MAX:
        raise DisclosureError(
            _l("Write between %(min)s and %(max)s characters.", min=QUESTION_MIN, max=QUESTION_MAX)
        )
    question = DisclosureQuestion(disclosure=disclosure, body=body, asked_on=today)
    session.add(question)
    session.flush()
    return question


def pending_questions(session: Session, staff: StaffUser) -> list[DisclosureQuestion]:
    rows = session.scalars(
        select(DisclosureQuestion)
        .where(DisclosureQuestion.state == QuestionState.pending)
        .order_by(DisclosureQuestion.id)
    )
    return [q for q in rows if units.staff_covers(staff, q.disclosure.unit)]


def answer_question(
    session: Session, question: DisclosureQuestion, staff: StaffUser, answer: str, today: date
) -> None:
    """Publish a question, with an answer when one is given."""
    steps.require_unit(staff, question.disclosure.unit)
    if len(answer) > QUESTION_MAX * 5:
        raise DisclosureError(_l("The answer is too long."))
    question.answer = answer.strip()
    question.state = QuestionState.published
    question.answered_by_id = staff.id
    question.answered_on = today


def reject_question(session: Session, question: DisclosureQuestion, staff: StaffUser) -> None:
    steps.require_unit(staff, question.disclosure.unit)
    question.state = QuestionState.rejected
    question.answered_by_id = staff.id


def published_questions(session: Session, disclosure: Disclosure) -> list[DisclosureQuestion]:
    return list(
        session.scalars(
            select(DisclosureQuestion)
            .where(
                DisclosureQuestion.disclosure_id == disclosure.id,
                DisclosureQuestion.state == QuestionState.published,
            )
            .order_by(DisclosureQuestion.id)
        )
    )
