"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from app.form_choices import choice
from app.web.disclosures import PERIOD_NAMES, SCOPE_NAMES
from app.web.forms import WithinYears


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
