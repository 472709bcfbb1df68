"""Administration: the organisation, staff, disclosure categories and the catalogue, report
categories and the working-day calendar."""

from flask import Flask

# The settings' modules, the organisation, staff and keys add their routes to the admin
# blueprint when imported.
from app.console.admin import (  # noqa: F401
    calendar,
    disclosures,
    keys,
    report_categories,
    retention,
    staff,
    units,
    views,
)


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
