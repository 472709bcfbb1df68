"""Administration: the organisation, staff, disclosure categories and the catalogue."""

from flask import Flask

# The disclosure settings, the organisation, staff and keys add their routes to the admin
# blueprint when imported.
from app.console.admin import disclosures, keys, staff, units, views  # noqa: F401


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
