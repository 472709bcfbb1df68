from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=_l("Enter your username.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Authenticator code"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from your authenticator app.")),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("The code has 6 digits.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "7"},
    )
