"""``/healthz`` on both apps: 200 when the database answers, 503 otherwise."""

from flask import Blueprint, jsonify

from app.db import database
from app.extensions import limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    if database().ping():
        return jsonify(status="ok", database="ok")
    return jsonify(status="unavailable", database="unreachable"), 503
