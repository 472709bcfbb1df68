"""Search queries: the reader's words parsed, matched in the index, filtered by scope, ranked.

The newest matches (at most ``COUNT_CAP``) are ranked and counted; an item the reader may
not read is neither shown nor counted (``visible_clause``, or on PostgreSQL ``scope_clause``
on the scope and unit copied into each index row).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    Float,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session, joinedload, load_only

from app.models import Action, Disclosure, DisclosureRevision, PublicState
from app.models.search import BUCKET_IDS, BUCKET_PREFIX, POSTGRES_TABLE, SQLITE_TABLE
from app.services.disclosures.visibility import Reader, scope_clause, visible_clause
from app.services.search import tokens
from app.services.search.tokens import Term

# At most this many matches (the newest) are ranked and counted; beyond, the page says "more
# than 500": scoring and counting every match of a common word costs time.
COUNT_CAP = 500

FIRST_BUCKETS = 2  # buckets asked for in the first round (later rounds: as the matches suggest)
MAX_BUCKETS = 64  # more buckets than this in one round: no bucket condition, an id bound instead


class SearchError(Exception):
    """The query cannot be run; ``message`` tells the reader what to type instead."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class Hit:
    disclosure: Disclosure
    title: Markup
    snippet: Markup
    attachments: list[Markup] = field(default_factory=list)


@dataclass
class SearchPage:
    query: str
    terms: list[Term]
    hits: list[Hit]
    total: int
    more: bool  # there are more than ``total`` matches (the count stopped at COUNT_CAP)
    page: int
    pages: int


def parse_query(query: str) -> list[Term]:
    """The terms of a query, or SearchError with what to do instead."""
    query = (query or "").strip()
    if not query:
        raise SearchError(_l("Type one or more words to search for."))
    if len(query) > tokens.QUERY_MAX_CHARS:
        raise SearchError(
            _l(
                "The search is too long. Use at most %(max)s characters.",
                max=tokens.QUERY_MAX_CHARS,
            )
        )
    terms = tokens.query_terms(query)
    if not terms:
        raise SearchError(_l("Search for words or numbers; punctuation alone finds nothing."))
    return terms


@dataclass(frozen=True)
class Candidate:
    id: int
    published: float  # when it was published, as a number: later is larger
    score: float  # lower is better


def _candidates(session: Session, reader: Reader, terms: list[Term], limit: int) -> list[Candidate]:
    """The newest ``limit`` visible matches, newest first, each with its score.

    The scope filter is applied while the matches are taken, so restricted items neither
    take a place among the candidates nor are counted; only the candidates are scored.
    """
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_candidates(session, reader, terms, limit)
    return _postgres_candidates(session, reader, terms, limit)


def _sqlite_candidates(session, reader, terms, limit) -> list[Candidate]:
    # Newest entry first, which SQLite reads straight from the FTS5 index, stopping at the
    # limit: a word found in thousands of items costs about as much as one found in
    # ``limit``. The scope filter is a join on the disclosure's primary key in that scan.
    statement = (
        select(
            SQLITE_TABLE.c.rowid,
            # A number sorts as the time does, and costs far less to fetch for hundreds of
            # rows than a datetime does to parse.
            func.julianday(Disclosure.published_at),
            # bm25 is lower for better matches; the title counts four times the text. An
            # auxiliary function runs in the query holding the MATCH: only for the rows the
            # LIMIT lets through.
            literal_column("bm25(disclosure_search, 4.0, 1.0)"),
        )
        .select_from(SQLITE_TABLE)
        .join(Disclosure, Disclosure.id == SQLITE_TABLE.c.rowid)
        .where(
            text("disclosure_search MATCH :fts_query").bindparams(
                fts_query=tokens.fts5_query(terms)
            ),
            visible_clause(session, reader),
        )
        .order_by(SQLITE_TABLE.c.rowid.desc())
        .limit(limit)
    )
    return [Candidate(*row) for row in session.execute(statement).all()]


def _postgres_candidates(session, reader, terms, limit) -> list[Candidate]:
    # A GIN index yields its matches in no order, and each must be read from the table to
    # be returned: for a common word, thousands of rows. So the matches are asked for
    # bucket by bucket of ids, newest first, with the bucket lexemes in the query: the index
    # itself narrows the matches to those buckets. The first round asks for two buckets;
    # each later one for as many as the matches found so far suggest are still needed.
    words = func.to_tsquery(literal_column("'simple'"), tokens.tsquery(terms))
    top = session.scalar(select(func.max(POSTGRES_TABLE.c.id)))
    if top is None:
        return []
    found: list[Candidate] = []
    high = top // BUCKET_IDS  # the newest bucket not yet searched
    # The newest bucket is still filling: while it holds less than half its ids, one bucket
    # more, so that the first round covers about as many items as FIRST_BUCKETS full ones.
    span = FIRST_BUCKETS + (top % BUCKET_IDS < BUCKET_IDS // 2)
    while high >= 0 and len(found) < limit:
        low = max(0, high - span + 1)
        if high - low + 1 <= MAX_BUCKETS:
            buckets = " | ".join(f"'{BUCKET_PREFIX}{n}'" for n in range(low, high + 1))
            condition = POSTGRES_TABLE.c.tsv.op("@@")(
                words.op("&&")(cast(literal(buckets), TSQUERY))
            )
            found += _postgres_visible_matches(
                session, reader, condition, words, limit - len(found)
            )
        else:
            # The rest, all at once. Starting a parallel worker for the index scan takes
            # longer than the whole query, much longer on a busy server; only this round
            # may be big enough for the planner to want one.
            low = 0
            condition = POSTGRES_TABLE.c.tsv.op("@@")(words) & (
                POSTGRES_TABLE.c.id < (high + 1) * BUCKET_IDS
            )
            with _no_parallel_workers(session):
                found += _postgres_visible_matches(
                    session, reader, condition, words, limit - len(found)
                )
        # Next, as many buckets as the matches found so far say are still needed, and half
        # as many again (at most four times this round's); four times as many if none was.
        per_bucket = len(found) * BUCKET_IDS / (top - low * BUCKET_IDS + 1)
        most = 4 * (high - low + 1)
        wanted = limit - len(found)
        span = max(1, min(math.ceil(1.5 * wanted / per_bucket), most)) if per_bucket else most
        high = low - 1
    return found


def _postgres_visible_matches(session, reader, condition, words, limit) -> list[Candidate]:
    # The plan is spelt out (the subquery kept apart by OFFSET 0), as the planner, aiming at
    # the LIMIT, would walk the primary key backwards instead, testing every row's tsvector.
    # The matches come from the GIN index, are filtered by the scope copied into each row,
    # scored, and sorted newest first; the first ``limit`` are returned. Each match is
    # scored as its row is read (its tsvector is kept in the row, migration 0021): carrying
    # the tsvectors through the sort to score only the rows returned costs more than
    # scoring the few more matches a round finds.
    matches = (
        select(
            POSTGRES_TABLE.c.id,
            cast(func.extract("epoch", POSTGRES_TABLE.c.published_at), Float).label("published"),
            (-func.ts_rank(POSTGRES_TABLE.c.tsv, words)).label("score"),
        )
        .where(
            condition,
            scope_clause(
                session, reader, scope_col=POSTGRES_TABLE.c.scope, unit_col=POSTGRES_TABLE.c.unit_id
            ),
        )
        .order_by(POSTGRES_TABLE.c.id.desc())
        .offset(0)
        .subquery("matches")
    )
    statement = (
        select(matches.c.id, matches.c.published, matches.c.score)
        .order_by(matches.c.id.desc())
        .limit(limit)
    )
    return [Candidate(*row) for row in session.execute(statement).all()]


@contextlib.contextmanager
def _no_parallel_workers(session: Session) -> Iterator[None]:
    """No parallel workers for the statements inside; the setting is put back after."""
    previous = session.scalar(
        text(
            "SELECT current_setting('max_parallel_workers_per_gather'), "
            "set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    try:
        yield
    finally:
        session.execute(
            text("SELECT set_config('max_parallel_workers_per_gather', :previous, true)"),
            {"previous": previous},
        )


def search(
    session: Session,
    reader: Reader,
    query: str,
    *,
    page: int = 1,
    per_page: int = 20,
    count_cap: int = COUNT_CAP,
) -> SearchPage:
    """One page of the disclosures ``reader`` may see that match every term of ``query``.

    Ranked by relevance (then newest first), with highlighted titles and snippets. When more
    than ``count_cap`` items match, the newest ``count_cap`` of them are ranked and shown,
    and ``more`` says there are more.
    """
    terms = parse_query(query)
    # One candidate more than are shown tells that there are more; it is counted, not shown.
    candidates = _candidates(session, reader, terms, count_cap + 1)
    more = len(candidates) > count_cap
    ranked = sorted(
        candidates[:count_cap],
        key=lambda c: (c.score, -(c.published or 0), -c.id),
    )
    total = len(ranked)
    pages = max(1, (total + per_page - 1) // per_page)
    # Any page number from a URL gets a page: the last one beyond the end.
    page = min(max(page, 1), pages)
    shown = ranked[(page - 1) * per_page : page * per_page]
    hits = _hits(session, [c.id for c in shown], terms)
    return SearchPage(query.strip(), terms, hits, total, more, page, pages)


def _hits(session: Session, ids: list[int], terms: list[Term]) -> list[Hit]:
    if not ids:
        return []
    # The result list shows each item's category, unit and attachment names: load them in
    # the same query, and only the columns it shows (the public text is in ``public_title``
    # and ``search_body``).
    if session.get_bind().dialect.name == "sqlite":
        index_key, names_column = SQLITE_TABLE.c.rowid, SQLITE_TABLE.c.names
    else:
        index_key, names_column = POSTGRES_TABLE.c.id, POSTGRES_TABLE.c.names
    rows = session.execute(
        select(Disclosure, names_column)
        .join(index_key.table, index_key == Disclosure.id)
        .where(Disclosure.id.in_(ids))
        .options(
            joinedload(Disclosure.category, innerjoin=True),
            joinedload(Disclosure.unit, innerjoin=True),
            load_only(
                Disclosure.public_state,
                Disclosure.public_title,
                Disclosure.search_body,
                Disclosure.scope,
                Disclosure.period_key,
                Disclosure.published_at,
                Disclosure.category_id,
                Disclosure.unit_id,
            ),
        )
    ).all()
    by_id = {disclosure.id: disclosure for disclosure, _names in rows}
    names = {disclosure.id: names for disclosure, names in rows}
    retracted = [i for i in ids if by_id[i].public_state == PublicState.retracted]
    reasons: dict[int, str] = {}
    if retracted:
        reasons = dict(
            session.execute(
                select(DisclosureRevision.disclosure_id, DisclosureRevision.reason).where(
                    DisclosureRevision.disclosure_id.in_(retracted),
                    DisclosureRevision.action == Action.retract,
                )
            ).all()
        )
    hits = []
    for disclosure_id in ids:
        disclosure = by_id[disclosure_id]
        if disclosure.public_state == PublicState.retracted:
            text_shown = reasons.get(disclosure_id, "")
        else:
            text_shown = disclosure.search_body
        attachment_names = [n for n in (names.get(disclosure_id) or "").split("\n") if n]
        hits.append(
            Hit(
                disclosure=disclosure,
                title=tokens.highlight(disclosure.public_title, terms),
                snippet=tokens.snippet(text_shown, terms),
                attachments=[
                    tokens.highlight(name, terms)
                    for name in attachment_names
                    if tokens.match_spans(name, terms)
                ],
            )
        )
    return hits
