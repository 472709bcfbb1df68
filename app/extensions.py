"""Flask extensions, created unbound and attached in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from app.security.network import rate_limit_key

csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=rate_limit_key)
