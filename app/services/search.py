"""Full-text search over disclosures: the index (kept by the publishing services) and queries.

One row per disclosure on the public site, keyed by the disclosure id, holding token strings
from ``search_tokens``: ``title`` (weighted higher) and ``tokens`` (text and attachment
names), plus the attachment names as shown. On SQLite it is an FTS5 table ranked with bm25;
on PostgreSQL a table with a stored ``tsvector`` and a GIN index, ranked with ts_rank.

A retracted item stays findable by its title and the reason for the retraction only: its
withdrawn text and attachments leave the index, and the result shows the retraction notice.
Scope filtering reuses ``visible_clause`` (on PostgreSQL ``scope_clause`` on the scope and
unit copied into each row, which never change once an item is published), so a reader
never sees, nor counts, an item they may not read.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    DDL,
    Float,
    bindparam,
    cast,
    column,
    event,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.orm import Session, defer, joinedload, object_session

from app.db import Base
from app.models import Action, Disclosure, DisclosureRevision, PublicState, Scope
from app.services import disclosures as disclosure_service
from app.services import search_tokens
from app.services.search_tokens import Term

# At most this many matches (the newest) are ranked and counted; beyond, the page says "more
# than 500": scoring and counting every match of a common word costs time.
COUNT_CAP = 500

# On PostgreSQL each document also holds the lexeme ``~b<id / BUCKET_IDS>``, so that the
# newest matches are found bucket by bucket (see ``_postgres_candidates``); no query term
# can be such a lexeme, as the query tokeniser keeps letters and digits only.
BUCKET_IDS = 4096
BUCKET_PREFIX = "~b"
FIRST_BUCKETS = 2  # buckets asked for in the first round (later rounds: as the matches suggest)
MAX_BUCKETS = 64  # more buckets than this in one round: no bucket condition, an id bound instead

# Also in migrations 0003 and 0005 (which keep their own copies, as migrations must).
SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS disclosure_search USING fts5("
    "title, tokens, names UNINDEXED, tokenize='unicode61 remove_diacritics 0')",
]
POSTGRES_DDL = [
    "CREATE TABLE IF NOT EXISTS disclosure_search ("
    " id INTEGER PRIMARY KEY REFERENCES disclosures (id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '',"
    " tokens TEXT NOT NULL DEFAULT '',"
    " names TEXT NOT NULL DEFAULT '',"
    " scope VARCHAR(20),"
    " unit_id INTEGER,"
    " published_at TIMESTAMP WITH TIME ZONE,"
    " tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', tokens)"
    f" || array_to_tsvector(ARRAY['{BUCKET_PREFIX}' || (id / {BUCKET_IDS})::text])) STORED)",
    "CREATE INDEX IF NOT EXISTS ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)",
]


def _create_ddl(target, connection, **_kw) -> None:
    statements = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRES_DDL
    for statement in statements:
        connection.execute(DDL(statement))


def _drop_ddl(target, connection, **_kw) -> None:
    connection.execute(DDL("DROP TABLE IF EXISTS disclosure_search"))


# ``metadata.create_all`` (tests, throw-away databases) builds the index too; real databases
# get it from migration 0003, which holds its own copy of these statements.
event.listen(Base.metadata, "after_create", _create_ddl)
event.listen(Base.metadata, "before_drop", _drop_ddl)

_sqlite_table = table("disclosure_search", column("rowid"), column("names"))
# On PostgreSQL the row also holds the item's scope, unit and publication time, so that
# matches are filtered and sorted without a lookup of each one in the disclosures table.
_pg_table = table(
    "disclosure_search",
    column("id"),
    column("title"),
    column("tokens"),
    column("names"),
    column("tsv"),
    column("scope", Disclosure.__table__.c.scope.type),
    column("unit_id"),
    column("published_at", Disclosure.__table__.c.published_at.type),
)


# --- keeping the index ----------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    disclosure_id: int
    title: str
    tokens: str
    names: str
    scope: Scope
    unit_id: int
    published_at: datetime | None


def _document(disclosure: Disclosure, latest: DisclosureRevision | None) -> Document | None:
    if disclosure.public_state == PublicState.unpublished or latest is None:
        return None
    if disclosure.public_state == PublicState.retracted:
        reason = latest.reason if latest.action == Action.retract else ""
        return Document(
            disclosure.id,
            search_tokens.index_string(disclosure.public_title),
            search_tokens.index_string(reason),
            "",
            disclosure.scope,
            disclosure.unit_id,
            disclosure.published_at,
        )
    names = [row[1] for row in json.loads(latest.attachments_json or "[]")]
    _title, _sep, body = disclosure.search_text.partition("\n")
    return Document(
        disclosure.id,
        search_tokens.index_string(disclosure.public_title),
        search_tokens.index_string(body, *names),
        "\n".join(names),
        disclosure.scope,
        disclosure.unit_id,
        disclosure.published_at,
    )


def _write(session: Session, documents: Iterable[Document], ids: Iterable[int]) -> None:
    ids = list(ids)
    documents = list(documents)
    rows = [
        {"id": d.disclosure_id, "title": d.title, "tokens": d.tokens, "names": d.names}
        for d in documents
    ]
    removed = sorted(set(ids) - {row["id"] for row in rows})
    sqlite = session.get_bind().dialect.name == "sqlite"
    if removed:
        # FTS5 keys its rows by rowid; the PostgreSQL table has an id column.
        key = "rowid" if sqlite else "id"
        session.execute(
            text(f"DELETE FROM disclosure_search WHERE {key} IN :ids").bindparams(  # noqa: S608
                bindparam("ids", expanding=True)
            ),
            {"ids": removed},
        )
    if sqlite:
        if rows:
            session.execute(
                text(
                    "INSERT OR REPLACE INTO disclosure_search (rowid, title, tokens, names) "
                    "VALUES (:id, :title, :tokens, :names)"
                ),
                rows,
            )
        return
    if rows:
        for row, document in zip(rows, documents, strict=True):
            row.update(
                scope=document.scope, unit_id=document.unit_id, published_at=document.published_at
            )
        statement = postgresql_insert(_pg_table)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[_pg_table.c.id],
                set_={name: statement.excluded[name] for name in rows[0] if name != "id"},
            ),
            rows,
        )


def refresh(disclosure: Disclosure, session: Session | None = None) -> None:
    """Bring the index row of ``disclosure`` in line with what the public site shows.

    Called by the publishing services after a publication, an amendment or a retraction.
    """
    session = session or object_session(disclosure)
    if session is None:
        raise ValueError("the disclosure is not in a session")
    latest = disclosure.revisions[-1] if disclosure.revisions else None
    document = _document(disclosure, latest)
    # The index row needs none of the pending changes: writing it need not flush them.
    with session.no_autoflush:
        _write(session, [document] if document else [], [disclosure.id])


def reindex(session: Session, batch_size: int = 1000) -> int:
    """Rebuild the whole index from the disclosures table; returns how many rows it holds."""
    session.execute(text("DELETE FROM disclosure_search"))
    count = 0
    last_id = 0
    while True:
        disclosures = list(
            session.scalars(
                select(Disclosure)
                .where(Disclosure.id > last_id, Disclosure.public_state != PublicState.unpublished)
                .order_by(Disclosure.id)
                .limit(batch_size)
            )
        )
        if not disclosures:
            break
        last_id = disclosures[-1].id
        latest = _latest_revisions(session, [d.id for d in disclosures])
        documents = [
            doc for d in disclosures if (doc := _document(d, latest.get(d.id))) is not None
        ]
        _write(session, documents, [])
        count += len(documents)
        session.flush()
        session.expunge_all()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text("INSERT INTO disclosure_search (disclosure_search) VALUES ('optimize')")
        )
    else:
        # Without statistics of the new rows the planner may check every row's tsvector
        # instead of reading the GIN index.
        session.execute(text("ANALYZE disclosure_search"))
    return count


def _latest_revisions(session: Session, ids: list[int]) -> dict[int, DisclosureRevision]:
    newest = (
        select(DisclosureRevision.disclosure_id, func.max(DisclosureRevision.number).label("n"))
        .where(DisclosureRevision.disclosure_id.in_(ids))
        .group_by(DisclosureRevision.disclosure_id)
        .subquery()
    )
    rows = session.scalars(
        select(DisclosureRevision).join(
            newest,
            (DisclosureRevision.disclosure_id == newest.c.disclosure_id)
            & (DisclosureRevision.number == newest.c.n),
        )
    )
    return {r.disclosure_id: r for r in rows}


# --- queries --------------------------------------------------------------------------------


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
    if len(query) > search_tokens.QUERY_MAX_CHARS:
        raise SearchError(
            _l(
                "The search is too long. Use at most %(max)s characters.",
                max=search_tokens.QUERY_MAX_CHARS,
            )
        )
    terms = search_tokens.query_terms(query)
    if not terms:
        raise SearchError(_l("Search for words or numbers; punctuation alone finds nothing."))
    return terms


@dataclass(frozen=True)
class Candidate:
    id: int
    published: float  # when it was published, as a number: later is larger
    score: float  # lower is better


def _candidates(
    session: Session, reader: disclosure_service.Reader, terms: list[Term], limit: int
) -> list[Candidate]:
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
            _sqlite_table.c.rowid,
            # A number sorts as the time does, and costs far less to fetch for hundreds of
            # rows than a datetime does to parse.
            func.julianday(Disclosure.published_at),
            # bm25 is lower for better matches; the title counts four times the text. An
            # auxiliary function runs in the query holding the MATCH: only for the rows the
            # LIMIT lets through.
            literal_column("bm25(disclosure_search, 4.0, 1.0)"),
        )
        .select_from(_sqlite_table)
        .join(Disclosure, Disclosure.id == _sqlite_table.c.rowid)
        .where(
            text("disclosure_search MATCH :fts_query").bindparams(
                fts_query=search_tokens.fts5_query(terms)
            ),
            disclosure_service.visible_clause(session, reader),
        )
        .order_by(_sqlite_table.c.rowid.desc())
        .limit(limit)
    )
    return [Candidate(*row) for row in session.execute(statement).all()]


def _postgres_candidates(session, reader, terms, limit) -> list[Candidate]:
    # A GIN index yields its matches in no order, and each must be read from the table to
    # be returned: for a common word, thousands of rows. So the matches are asked for
    # bucket by bucket of ids, newest first, with the bucket lexemes in the query: the index
    # itself narrows the matches to those buckets. The first round asks for two buckets;
    # each later one for as many as the matches found so far suggest are still needed.
    words = func.to_tsquery(literal_column("'simple'"), search_tokens.tsquery(terms))
    top = session.scalar(select(func.max(_pg_table.c.id)))
    if top is None:
        return []
    found: list[Candidate] = []
    high = top // BUCKET_IDS  # the newest bucket not yet searched
    span = FIRST_BUCKETS
    while high >= 0 and len(found) < limit:
        low = max(0, high - span + 1)
        if high - low + 1 <= MAX_BUCKETS:
            buckets = " | ".join(f"'{BUCKET_PREFIX}{n}'" for n in range(low, high + 1))
            condition = _pg_table.c.tsv.op("@@")(words.op("&&")(cast(literal(buckets), TSQUERY)))
            found += _postgres_visible_matches(
                session, reader, condition, words, limit - len(found)
            )
        else:
            # The rest, all at once. Starting a parallel worker for the index scan takes
            # longer than the whole query, much longer on a busy server; only this round
            # may be big enough for the planner to want one.
            low = 0
            condition = _pg_table.c.tsv.op("@@")(words) & (_pg_table.c.id < (high + 1) * BUCKET_IDS)
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
    # and are sorted newest first; the first ``limit`` are scored.
    matches = (
        select(_pg_table.c.id, _pg_table.c.tsv, _pg_table.c.published_at)
        .where(
            condition,
            disclosure_service.scope_clause(
                session, reader, scope_col=_pg_table.c.scope, unit_col=_pg_table.c.unit_id
            ),
        )
        .order_by(_pg_table.c.id.desc())
        .offset(0)
        .subquery("matches")
    )
    statement = (
        select(
            matches.c.id,
            cast(func.extract("epoch", matches.c.published_at), Float),
            # ts_rank reads the whole tsvector of a row: only the rows returned pay for it.
            -func.ts_rank(matches.c.tsv, words),
        )
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
    reader: disclosure_service.Reader,
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
    # the same query, and leave out the texts it does not show (the public text is in
    # ``search_text``).
    if session.get_bind().dialect.name == "sqlite":
        index_key, names_column = _sqlite_table.c.rowid, _sqlite_table.c.names
    else:
        index_key, names_column = _pg_table.c.id, _pg_table.c.names
    rows = session.execute(
        select(Disclosure, names_column)
        .join(index_key.table, index_key == Disclosure.id)
        .where(Disclosure.id.in_(ids))
        .options(
            joinedload(Disclosure.category, innerjoin=True),
            joinedload(Disclosure.unit, innerjoin=True),
            defer(Disclosure.title),
            defer(Disclosure.body),
            defer(Disclosure.reason),
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
            text_shown = disclosure.search_text.partition("\n")[2]
        attachment_names = [n for n in (names.get(disclosure_id) or "").split("\n") if n]
        hits.append(
            Hit(
                disclosure=disclosure,
                title=search_tokens.highlight(disclosure.public_title, terms),
                snippet=search_tokens.snippet(text_shown, terms),
                attachments=[
                    search_tokens.highlight(name, terms)
                    for name in attachment_names
                    if search_tokens.match_spans(name, terms)
                ],
            )
        )
    return hits
