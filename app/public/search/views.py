"""The search page: a GET form, so results can be bookmarked and shared."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from app.db import get_session
from app.security.reader import current_reader, vary_by_reader
from app.services.search import query as search_query
from app.services.search.tokens import QUERY_MAX_CHARS

bp = Blueprint("search", __name__)
bp.after_request(vary_by_reader)


@bp.get("/search")
def results():
    query = request.args.get("q")
    page = error = None
    if query is not None:
        session = get_session()
        try:
            page = search_query.search(
                session,
                current_reader(),
                query,
                page=request.args.get("page", 1, type=int) or 1,
                per_page=current_app.config["PAGE_SIZE"],
            )
        except search_query.SearchError as exc:
            error = exc.message
    return render_template(
        "search/results.html",
        query=(query or "")[:QUERY_MAX_CHARS],
        max_chars=QUERY_MAX_CHARS,
        page=page,
        error=error,
    )
