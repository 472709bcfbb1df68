"""Language choice: a visible switch (?lang=) remembered in the session, then Accept-Language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
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


def switch_href(language: str, keep_query: bool = True) -> str:
    """The link that shows this page in ``language``: the same page and query, only ``lang``
    replaced, so a search or a filtered list stays what it was.

    A reference that starts with "?" keeps the scheme, host and path of the page it is on:
    whatever the query holds, it cannot lead elsewhere. A cached page keeps only the query
    arguments its cache key holds (app/public/page_cache.py), or its link would carry one
    visitor's query to the next. ``keep_query`` False: the path alone (an error page, which
    echoes nothing of the request).
    """
    if not keep_query:
        return "?" + urlencode([("lang", language)])
    args = request.args
    view = current_app.view_functions.get(request.endpoint or "")
    read = getattr(view, "_portal_page_args", None)
    if read is None:
        kept = [(name, value) for name, value in args.items(multi=True) if name != "lang"]
    else:
        kept = [(name, args[name]) for name in read if name in args and name != "lang"]
    return "?" + urlencode([*kept, ("lang", language)])


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def language_context() -> dict[str, object]:
        lang = current_language()
        return {
            "lang": lang,
            "html_lang": "zh-Hans" if lang == "zh" else "en",
            "other_lang": "en" if lang == "zh" else "zh",
            "switch_href": switch_href,
        }
