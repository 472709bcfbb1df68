"""Administration: the organisation, staff, disclosure categories and the catalogue."""

from flask import Flask

# The disclosure and retention settings, the organisation, staff and keys add their routes to
# the admin blueprint when imported.
from app.console.admin import disclosures, keys, retention, staff, units, views  # noqa: F401


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
