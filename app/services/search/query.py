"""Search queries: the reader's words parsed, matched in the index, filtered by scope, ranked.

The newest matches (at most ``COUNT_CAP``) are ranked and counted; an item the reader may
not read is neither shown nor counted (``visible_clause``, or on PostgreSQL ``scope_clause``
on the scope and unit copied into each index row).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureCategory,
    DisclosureRevision,
    PublicState,
    Unit,
)
from app.models.search import BUCKET_IDS, BUCKET_PREFIX, POSTGRES_TABLE, SQLITE_TABLE
from app.services import units
from app.services.disclosures.visibility import Reader, visible_clause
from app.services.search import tokens
from app.services.search.tokens import Term

# At most this many matches (the newest) are ranked and counted; beyond, the page says "more
# than 500": scoring and counting every match of a common word costs time.
COUNT_CAP = 500

# Buckets asked for in the first round for a word the statistics do not list as common (later
# rounds: as the matches suggest).
FIRST_BUCKETS = 2
MAX_BUCKETS = 64  # more buckets than this in one round: no bucket condition, an id bound instead


class SearchError(Exception):
    """The query cannot be run; ``message`` tells the reader what to type instead."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class Hit:
    disclosure: Listed
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


class Candidate(NamedTuple):
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
    return list(map(Candidate._make, session.execute(statement).all()))


# The newest visible matches among the given buckets (or, without buckets, below an id),
# each scored as its row is read: its tsvector is kept in the row (migration 0022), and
# carrying the tsvectors through the sort to score only the rows returned costs more than
# scoring the few more matches a round finds. The subquery is kept apart by OFFSET 0: the
# planner, aiming at the LIMIT, would walk the primary key backwards instead, testing every
# row's tsvector. The scope filter takes every reader as parameters (the units whose
# unit-scoped items they may read, whether they are a party member), so that each statement
# is one text, planned once per connection.
_PG_VISIBLE = (
    "(scope = 'everyone' OR (scope = 'unit' AND unit_id = ANY(:units))"
    " OR (scope = 'party' AND :party))"
)
_PG_SCORED = (
    "SELECT id, extract(epoch FROM published_at)::float8 AS published,"
    " -ts_rank(tsv, to_tsquery('simple', :words)) AS score FROM disclosure_search"
)
_PG_IN_BUCKETS = text(
    f"SELECT * FROM ({_PG_SCORED}"  # noqa: S608 (the constants above, no input)
    " WHERE tsv @@ (to_tsquery('simple', :words) && CAST(:buckets AS tsquery))"
    f" AND {_PG_VISIBLE} OFFSET 0) AS matches ORDER BY id DESC LIMIT :limit"
)
_PG_BELOW = text(
    f"SELECT * FROM ({_PG_SCORED}"  # noqa: S608 (the constants above, no input)
    " WHERE tsv @@ to_tsquery('simple', :words) AND id < :below"
    f" AND {_PG_VISIBLE} OFFSET 0) AS matches ORDER BY id DESC LIMIT :limit"
)
_PG_TOP = text("SELECT max(id) FROM disclosure_search")
# How often each of the commonest lexemes occurs, from the statistics ANALYZE keeps for the
# planner: enough to size the first round of a common word's search so that it needs no
# second one. A lexeme not listed is rarer than every listed one.
_PG_FREQUENCIES = text(
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'disclosure_search'"
    " AND attname = 'tsv'"
)
FREQUENCIES_SECONDS = 600.0  # statistics change when ANALYZE runs: minutes, not requests
_frequencies: dict[str, tuple[float, dict[str, float]]] = {}
_frequencies_lock = threading.Lock()


def _lexeme_frequencies(session: Session) -> dict[str, float]:
    """Lexeme -> share of index rows holding it, for the commonest lexemes (cached a while)."""
    key = session.get_bind().url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _frequencies_lock:
        found = _frequencies.get(key)
    if found is not None and now - found[0] < FREQUENCIES_SECONDS:
        return found[1]
    row = session.execute(_PG_FREQUENCIES).first()
    frequencies: dict[str, float] = {}
    if row is not None and row[0] and row[1]:
        # The last one or three entries of most_common_elem_freqs are not lexemes' shares
        # (the least and greatest shares, the share of rows without nulls); zip stops at
        # the lexemes' end.
        frequencies = dict(zip(row[0], row[1], strict=False))
    with _frequencies_lock:
        _frequencies[key] = (now, frequencies)
    return frequencies


def _first_span(session: Session, terms: list[Term], top: int, limit: int) -> int:
    """Buckets for the first round: as many as the commonest term's share says will hold
    ``limit`` matches, and half as many again; FIRST_BUCKETS (and a filling newest bucket)
    for words the statistics do not list, or list as rare."""
    span = FIRST_BUCKETS + (top % BUCKET_IDS < BUCKET_IDS // 2)
    if any(t.prefix for t in terms):
        return span
    frequencies = _lexeme_frequencies(session)
    shares = [frequencies.get(t.text) for t in terms]
    if not shares or None in shares:
        return span
    # Every term must match: no more rows match than hold the rarest term.
    per_bucket = min(shares) * BUCKET_IDS
    wanted = math.ceil(1.5 * limit / per_bucket) + (top % BUCKET_IDS < BUCKET_IDS // 2)
    return max(span, min(wanted, MAX_BUCKETS))


def _postgres_candidates(session, reader, terms, limit) -> list[Candidate]:
    # A GIN index yields its matches in no order, and each must be read from the table to
    # be returned: for a common word, thousands of rows. So the matches are asked for
    # bucket by bucket of ids, newest first, with the bucket lexemes in the query: the index
    # itself narrows the matches to those buckets. The first round asks for as many buckets
    # as the word's share of the index says will do (``_first_span``); each later one for
    # as many as the matches found so far suggest are still needed.
    top = session.scalar(_PG_TOP)
    if top is None:
        return []
    params = {
        "words": tokens.tsquery(terms),
        "units": units.chain_ids(session, reader.unit_code),
        "party": reader.party_member,
    }
    found: list[Candidate] = []
    high = top // BUCKET_IDS  # the newest bucket not yet searched
    span = _first_span(session, terms, top, limit)
    while high >= 0 and len(found) < limit:
        low = max(0, high - span + 1)
        if high - low + 1 <= MAX_BUCKETS:
            buckets = " | ".join(f"'{BUCKET_PREFIX}{n}'" for n in range(low, high + 1))
            rows = session.execute(
                _PG_IN_BUCKETS, {**params, "buckets": buckets, "limit": limit - len(found)}
            ).all()
        else:
            # The rest, all at once. Starting a parallel worker for the index scan takes
            # longer than the whole query, much longer on a busy server; only this round
            # may be big enough for the planner to want one.
            low = 0
            with _no_parallel_workers(session):
                rows = session.execute(
                    _PG_BELOW,
                    {**params, "below": (high + 1) * BUCKET_IDS, "limit": limit - len(found)},
                ).all()
        found += map(Candidate._make, rows)
        # Next, as many buckets as the matches found so far say are still needed, and half
        # as many again (at most four times this round's); four times as many if none was.
        per_bucket = len(found) * BUCKET_IDS / (top - low * BUCKET_IDS + 1)
        most = 4 * (high - low + 1)
        wanted = limit - len(found)
        span = max(1, min(math.ceil(1.5 * wanted / per_bucket), most)) if per_bucket else most
        high = low - 1
    return found


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


@dataclass(frozen=True)
class Name:
    """A category's or unit's name in both languages, as the results list shows it."""

    name_zh: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


@dataclass(frozen=True)
class Listed:
    """What the results list shows of a disclosure, read as plain columns (no ORM objects:
    twenty mapped objects with their category and unit cost more than the rest of a page)."""

    id: int
    public_state: PublicState
    public_title: str
    scope: str
    period_key: str | None
    published_at: datetime | None
    category: Name
    unit: Name


def _hits(session: Session, ids: list[int], terms: list[Term]) -> list[Hit]:
    if not ids:
        return []
    # The public text is in ``public_title`` and ``search_body``; the attachment names are
    # in the search index's row.
    if session.get_bind().dialect.name == "sqlite":
        index_key, names_column = SQLITE_TABLE.c.rowid, SQLITE_TABLE.c.names
    else:
        index_key, names_column = POSTGRES_TABLE.c.id, POSTGRES_TABLE.c.names
    rows = session.execute(
        select(
            Disclosure.id,
            Disclosure.public_state,
            Disclosure.public_title,
            Disclosure.search_body,
            Disclosure.scope,
            Disclosure.period_key,
            Disclosure.published_at,
            DisclosureCategory.name_zh,
            DisclosureCategory.name_en,
            Unit.name_zh,
            Unit.name_en,
            names_column,
        )
        .join(index_key.table, index_key == Disclosure.id)
        .join(DisclosureCategory, DisclosureCategory.id == Disclosure.category_id)
        .join(Unit, Unit.id == Disclosure.unit_id)
        .where(Disclosure.id.in_(ids))
    ).all()
    by_id = {row[0]: row for row in rows}
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
        (_id, state, title, body, scope, period_key, published_at, *named, names) = by_id[
            disclosure_id
        ]
        text_shown = reasons.get(disclosure_id, "") if state == PublicState.retracted else body
        listed = Listed(
            disclosure_id,
            state,
            title,
            scope,
            period_key,
            published_at,
            Name(named[0], named[1]),
            Name(named[2], named[3]),
        )
        hits.append(
            Hit(
                disclosure=listed,
                title=tokens.highlight(title, terms),
                snippet=tokens.snippet(text_shown, terms),
                attachments=[
                    tokens.highlight(name, terms)
                    for name in (names or "").split("\n")
                    if name and tokens.match_spans(name, terms)
                ],
            )
        )
    return hits
