"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from app.form_choices import choice
from app.models.reports import CATEGORY_CODE_LENGTH
from app.services.names import clean_name
from app.web.disclosures import PERIOD_NAMES, SCOPE_NAMES
from app.web.forms import Sent, WithinYears

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
    # Names as names: no invisible or direction-changing characters, one space between words.
    name_zh = StringField(
        _l("Chinese name"),
        filters=[clean_name],
        validators=[DataRequired(message=_l("Enter the Chinese name.")), Length(max=200)],
    )
    name_en = StringField(
        _l("English name"),
        filters=[clean_name],
        validators=[DataRequired(message=_l("Enter the English name.")), Length(max=200)],
    )
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


# --- The organisation ---------------------------------------------------------------------------
# Units and offices are chosen by id; the lists are filled by the view, and a value that is not
# one of them (a crafted or stale one) is refused by the view with its own message.


class UnitForm(FlaskForm):
    code = StringField(
        _l("Code"), validators=[Length(max=200, message=_l("At most %(max)d characters."))]
    )
    name_zh = StringField(
        _l("Chinese name"), validators=[Length(max=400, message=_l("At most %(max)d characters."))]
    )
    name_en = StringField(
        _l("English name"), validators=[Length(max=400, message=_l("At most %(max)d characters."))]
    )
    kind = SelectField(_l("Kind"), choices=[], validate_choice=False)
    parent = SelectField(_l("Under"), choices=[], validate_choice=False)


class RenameUnitForm(FlaskForm):
    name_zh = StringField(
        _l("Chinese name"), validators=[Length(max=400, message=_l("At most %(max)d characters."))]
    )
    name_en = StringField(
        _l("English name"), validators=[Length(max=400, message=_l("At most %(max)d characters."))]
    )


class MoveUnitForm(FlaskForm):
    parent = SelectField(_l("Move under"), choices=[], validate_choice=False, validators=[Sent()])


class OfficeForm(FlaskForm):
    office_zh = StringField(
        _l("Chinese name of the office"),
        validators=[Length(max=400, message=_l("At most %(max)d characters."))],
    )
    office_en = StringField(
        _l("English name of the office"),
        validators=[Length(max=400, message=_l("At most %(max)d characters."))],
    )


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class StaffForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[Length(max=200, message=_l("At most %(max)d characters."))],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )
    display_name = StringField(
        _l("Name"), validators=[Length(max=200, message=_l("At most %(max)d characters."))]
    )
    roles = CheckboxesField(_l("Roles"), choices=[], validate_choice=False)
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False)
    office = SelectField(_l("Discipline office"), choices=[], validate_choice=False)


class RolesForm(FlaskForm):
    roles = CheckboxesField(_l("Roles"), choices=[], validate_choice=False)
    office = SelectField(_l("Discipline office"), choices=[], validate_choice=False)


class EmailForm(FlaskForm):
    email = StringField(
        _l("E-mail address for the daily digest"),
        validators=[Sent(), Length(max=300, message=_l("At most %(max)d characters."))],
    )


class CeremonyForm(FlaskForm):
    threshold = IntegerField(
        _l("Shares needed to recover (K)"),
        validators=[
            InputRequired(_l("Enter a whole number.")),
            NumberRange(min=1, max=16, message=_l("Enter a number from %(min)s to %(max)s.")),
        ],
    )
    count = IntegerField(
        _l("Shares to make (N)"),
        validators=[
            InputRequired(_l("Enter a whole number.")),
            NumberRange(min=1, max=16, message=_l("Enter a number from %(min)s to %(max)s.")),
        ],
    )
    holders = TextAreaField(
        _l("Holders, one name a line, in share order"),
        validators=[Length(max=2000, message=_l("At most %(max)d characters."))],
    )
    replace = BooleanField(_l("Replace the office's present recovery key"))


class CheckSharesForm(FlaskForm):
    """Shares typed to prove they recover an office's key: never shown back (password fields)."""

    shares = FieldList(
        PasswordField(
            _l("Share words"),
            render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
            validators=[Length(max=2000, message=_l("At most %(max)d characters."))],
        ),
        min_entries=0,
        max_entries=16,
    )


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
        validators=[Sent(), Length(max=CALENDAR_TEXT_CHARS)],
        render_kw={"rows": 8},
    )
    workdays = TextAreaField(
        _l("Make-up workdays (weekend days worked)"),
        validators=[Sent(), Length(max=CALENDAR_TEXT_CHARS)],
        render_kw={"rows": 4},
    )
