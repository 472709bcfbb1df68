"""Form pieces both apps use: validators, and the form of a button that only posts."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import StopValidation, ValidationError

from app.services.disclosures.drafting import is_one_line
from app.services.periods import FIRST_YEAR, LAST_YEAR

ID_RE = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes "²" and "٣"
MAX_ID = 2**63 - 1  # the largest id a database column holds


def parse_id(value: object) -> int | None:
    """A row id sent by a browser (a form field or a query argument) as an int; None for
    anything else: empty, other digits, signs, spaces, or past 2**63 - 1."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class OneLine:
    """A text field sent with a line break (only a crafted request can) is refused."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if field.data and not is_one_line(field.data):
            raise ValidationError(_l("The title must be one line."))


class Sent:
    """A field the page always sends, refused when a request leaves it out: left out is not
    empty (empty keeps its meaning, such as "at the top" or "the default")."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if not field.raw_data:
            field.errors = []
            raise StopValidation(_l("This field is missing: reload the page and try again."))


class WithinYears:
    """A date or time between FIRST_YEAR and LAST_YEAR (0001-01-01 is a valid HTML date)."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(
                _l("Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)
            )


class ActionForm(FlaskForm):
    """A button that posts: only the CSRF token is checked."""
