"""Flask extensions, created unbound and attached in ``create_app``."""

from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from app.security.ratelimit import DeferredLimits

csrf = CSRFProtect()
babel = Babel()
# Marks views; each app gets its own Flask-Limiter in app.security.ratelimit.init_app.
limiter = DeferredLimits()
