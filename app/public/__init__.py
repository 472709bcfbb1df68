"""The public site's Flask layer: the page cache in front of it, the home page, and one
folder per area (disclosures, log, search, reports)."""

from functools import partial

from flask import Flask

from app.i18n import enterprise_zone, today_in
from app.public import disclosures, log, page_cache, reports, search, stats, views
from app.security.reader import reader_scope
from app.web.disclosures import register_helpers


def register(app: Flask) -> None:
    page_cache.init_app(  # first: it answers before Flask
        app,
        reader_scope=partial(reader_scope, app.config),
        today=partial(today_in, enterprise_zone(app.config)),
    )
    app.register_blueprint(views.bp)
    disclosures.register(app)
    log.register(app)
    register_helpers(app)
    search.register(app)
    reports.register(app)
    stats.register(app)
