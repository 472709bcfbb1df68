"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from app.form_choices import choice
from app.models.reports import CATEGORY_CODE_LENGTH
from app.web.disclosures import PERIOD_NAMES, SCOPE_NAMES
from app.web.forms import WithinYears

# A year has at most 366 days, each typed as YYYY-MM-DD and a line break.
CALENDAR_TEXT_CHARS = 366 * 12


class CategoryForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter a code.")),
            Regexp(r"^[a-z0-9-]{2,40}$", message=_l("Use 2 to 40 lower-case letters, digits, -.")),
        ],
    )
    domain = SelectField(
        _l("Domain"),
        choices=[choice("factory", _l("Factory affairs")), choice("party", _l("Party affairs"))],
    )
    name_zh = StringField(_l("Chinese name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[DataRequired(), Length(max=200)])
    active = BooleanField(_l("In use"), default=True)


class CatalogueForm(FlaskForm):
    category = SelectField(_l("Category"), validators=[InputRequired()])
    unit = SelectField(_l("Unit"), validators=[InputRequired()])
    period = SelectField(
        _l("Period"), choices=[choice(p.value, label) for p, label in PERIOD_NAMES.items()]
    )
    due_days = IntegerField(
        _l("Due, days after the period ends"),
        default=30,
        validators=[InputRequired(), NumberRange(min=0, max=366)],
    )
    scope = SelectField(
        _l("Audience"), choices=[choice(scope.value, label) for scope, label in SCOPE_NAMES.items()]
    )
    starts_on = DateField(_l("Owed from"), validators=[InputRequired(), WithinYears()])


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ReportCategoryNamesForm(FlaskForm):
    """A report category's names; the code, once given, never changes."""

    name_zh = StringField(
        _l("Chinese name"),
        filters=[_stripped],
        validators=[DataRequired(message=_l("Enter the Chinese name.")), Length(max=200)],
    )
    name_en = StringField(
        _l("English name"),
        filters=[_stripped],
        validators=[DataRequired(message=_l("Enter the English name.")), Length(max=200)],
    )


class ReportCategoryForm(ReportCategoryNamesForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter a code.")),
            # \Z, not $: "$" would take a code followed by a line break.
            Regexp(
                rf"^[a-z0-9_-]{{2,{CATEGORY_CODE_LENGTH}}}\Z",
                message=_l(
                    "Use %(least)s to %(most)s lower-case letters, digits, _ or -.",
                    least=2,
                    most=CATEGORY_CODE_LENGTH,
                ),
            ),
        ],
    )


class CalendarYearForm(FlaskForm):
    """One year's holidays and make-up workdays, as dates typed one a line (or apart by spaces
    or commas); the view reads them (app/console/admin/calendar.py)."""

    year = StringField(
        _l("Year"),
        validators=[DataRequired(message=_l("Enter a year."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    holidays = TextAreaField(
        _l("Public holidays"),
        validators=[Length(max=CALENDAR_TEXT_CHARS)],
        render_kw={"rows": 8},
    )
    workdays = TextAreaField(
        _l("Make-up workdays (weekend days worked)"),
        validators=[Length(max=CALENDAR_TEXT_CHARS)],
        render_kw={"rows": 4},
    )
