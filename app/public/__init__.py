"""The public site's own parts: the page cache in front of it, and the home page.

Its areas (disclosures, search) register themselves next to these in ``create_app``.
"""

from functools import partial

from flask import Flask

from app.i18n import enterprise_zone, today_in
from app.public import page_cache, views
from app.security.reader import reader_scope


def register(app: Flask) -> None:
    page_cache.init_app(
        app,
        reader_scope=partial(reader_scope, app.config),
        today=partial(today_in, enterprise_zone(app.config)),
    )
    app.register_blueprint(views.bp)
