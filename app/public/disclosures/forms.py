"""Forms of the public disclosure pages: the index filters and a reader's question."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.services.disclosures.questions import QUESTION_MAX, QUESTION_MIN


class FilterForm(FlaskForm):
    """The index filters: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    unit = SelectField(_l("Unit"), validators=[Optional()], validate_choice=False)
    period = SelectField(_l("Period"), validators=[Optional()], validate_choice=False)
    year = SelectField(_l("Year"), validators=[Optional()], validate_choice=False)


class QuestionForm(FlaskForm):
    body = TextAreaField(
        _l("Your question"),
        validators=[
            DataRequired(message=_l("Write your question.")),
            Length(
                min=QUESTION_MIN,
                max=QUESTION_MAX,
                message=_l(
                    "Write between %(min)s and %(max)s characters.",
                    min=QUESTION_MIN,
                    max=QUESTION_MAX,
                ),
            ),
        ],
        render_kw={"rows": 4, "maxlength": QUESTION_MAX},
    )
