"""Language choice: a visible switch (?lang=) remembered in the session, then Accept-Language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import get_locale
from werkzeug.datastructures import LanguageAccept

from app.config import LANGUAGES
from app.extensions import babel


def select_locale() -> str:
    args = request.args
    # Asked for a missing key, MultiDict.get builds an exception: most requests have no ?lang=.
    chosen = args.getlist("lang")[0] if "lang" in args else None
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    return remembered_or_accepted(session.get("lang"), request.accept_languages)


def remembered_or_accepted(remembered: object, accepted: LanguageAccept) -> str:
    """The language remembered in the session, else the browser's best, else Chinese."""
    if remembered in LANGUAGES:
        return remembered  # type: ignore[return-value]
    return accepted.best_match(LANGUAGES) or "zh"


def current_language() -> str:
    return str(get_locale() or "zh")


def enterprise_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The enterprise's time zone: dates shown and due dates are dates there."""
    return ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])


def today_in(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def today() -> date:
    """Today where the enterprise is, for the current app: reports, questions and due dates
    are dated by the day there, never timed."""
    return today_in(enterprise_zone(current_app.config))


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def language_context() -> dict[str, object]:
        lang = current_language()
        return {
            "lang": lang,
            "html_lang": "zh-Hans" if lang == "zh" else "en",
            "other_lang": "en" if lang == "zh" else "zh",
        }
