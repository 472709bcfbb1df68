"""The application factory: one code base, two apps (``public`` and ``console``)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(surface: str, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the ``public`` site or the restricted ``console`` from the same configuration."""
    # Imported here, not when the package is: a worker process that needs one service module
    # (the bulk import's text workers) need not load Flask and the configuration.
    from flask import Flask

    from app import cli, config, db, errors, health, i18n, resources
    from app.extensions import csrf
    from app.security import body_reads, form_origin, headers, inputs, network, ratelimit, sessions
    from app.services import public_version
    from app.urls import IdConverter

    if surface not in config.SURFACES:
        raise ValueError(f"surface must be one of {config.SURFACES}, not {surface!r}")
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or None,
        static_folder="static",
    )
    app.url_map.converters["int"] = IdConverter
    config.load(app.config, app.instance_path, test_config)
    config.ensure_secret_keys(app.config, app.instance_path)
    config.validate(app.config)

    is_console = surface == "console"
    app.config.update(
        SURFACE=surface,
        SECRET_KEY=app.config[f"{surface.upper()}_SECRET_KEY"],
        SESSION_COOKIE_NAME=f"portal_{surface}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict" if is_console else "Lax",
        SESSION_COOKIE_SECURE=app.config["HTTPS"],
        PREFERRED_URL_SCHEME="https" if app.config["HTTPS"] else "http",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=app.config["SESSION_LIFETIME_MINUTES"]),
    )
    if app.config["HTTPS"]:
        app.config["SESSION_COOKIE_NAME"] = f"__Host-portal_{surface}"

    db.init_app(app)
    # Every flush that changes public content bumps the version the page caches key on.
    public_version.watch()
    resources.init_app(app)
    headers.init_app(app, surface)
    sessions.init_app(app)
    network.init_app(app, surface)
    inputs.init_app(app)
    csrf.init_app(app)
    form_origin.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)

    @app.context_processor
    def surface_context() -> dict[str, Any]:
        return {"surface": surface, "demo": app.config["DEMO"]}

    if is_console:
        from app.console import register

        register(app)
    else:
        from app import public

        public.register(app)
    ratelimit.init_app(app)
    cli.init_app(app, create_app)
    network.known_hosts_only(app)
    body_reads.init_app(app)
    network.trust_proxies(app)
    return app
