"""Administration: the organisation, staff, disclosure categories and the catalogue, report
categories and the working-day calendar."""

from flask import Flask

# The settings' modules add their routes to the admin blueprint when imported.
from app.console.admin import calendar, disclosures, report_categories, views  # noqa: F401


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
