"""The auditor's filters: a GET form (bookmarkable, no CSRF token), checked field by field."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from app.services.periods import FIRST_YEAR, LAST_YEAR

CASE_ID_MAX = 64
DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: "２０２６" is not a day


def parse_day(text: str) -> date | None:
    """A day written YYYY-MM-DD between FIRST_YEAR and LAST_YEAR, else None."""
    if not DAY_RE.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


class Day:
    """A date field's text must be a day (the browser's date picker sends YYYY-MM-DD)."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if field.data and parse_day(field.data.strip()) is None:
            raise ValidationError(
                _l(
                    "Enter a date as YYYY-MM-DD between %(first)s and %(last)s.",
                    first=FIRST_YEAR,
                    last=LAST_YEAR,
                )
            )


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    person = SelectField(_l("Person"), validators=[Optional()], validate_choice=False)
    case = StringField(
        _l("Case"),
        validators=[
            Optional(),
            Length(max=CASE_ID_MAX, message=_l("A case number is at most 64 characters.")),
        ],
        render_kw={"maxlength": CASE_ID_MAX},
    )
    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    date_from = StringField(_l("From"), validators=[Optional(), Day()], render_kw={"type": "date"})
    date_to = StringField(_l("To"), validators=[Optional(), Day()], render_kw={"type": "date"})

    def validate_person(self, field: Field) -> None:
        if field.data and field.data not in {str(value) for value, *_ in self.person.choices}:
            raise ValidationError(_l("Choose a person from the list."))

    def validate_action(self, field: Field) -> None:
        if field.data and field.data not in {str(value) for value, *_ in self.action.choices}:
            raise ValidationError(_l("Choose an action from the list."))

    def validate_date_to(self, field: Field) -> None:
        start = parse_day((self.date_from.data or "").strip())
        end = parse_day((field.data or "").strip())
        if start is not None and end is not None and end < start:
            raise ValidationError(_l("The end date is before the start date."))
