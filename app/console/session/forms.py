from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


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
            # Only presence here: a wrong code, whatever its shape, gets the same answer as a
            # wrong password (the service checks it).
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "7"},
    )
