"""Full-text search over disclosures: the index (kept by the publishing services) and queries.

One row per disclosure on the public site, keyed by the disclosure id, holding token strings
from ``tokens``: ``title`` (weighted higher) and ``tokens`` (text and attachment
names), plus the attachment names as shown. On SQLite it is an FTS5 table ranked with bm25;
on PostgreSQL a table with a stored ``tsvector`` and a GIN index, ranked with ts_rank.

A retracted item stays findable by its title and the reason for the retraction only: its
withdrawn text and attachments leave the index, and the result shows the retraction notice.
Scope filtering reuses ``visible_clause`` (on PostgreSQL ``scope_clause`` on the scope and
unit copied into each row, which never change once an item is published), so a reader
never sees, nor counts, an item they may not read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.orm import Session, object_session

from app.models import Action, Disclosure, DisclosureRevision, PublicState, Scope
from app.models.search import POSTGRES_TABLE
from app.services.search import tokens

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
    return document_of(
        disclosure.id,
        disclosure.public_state,
        disclosure.public_title,
        disclosure.search_body,
        latest.reason if latest.action == Action.retract else "",
        [file.filename for file in latest.attachments],
        disclosure.scope,
        disclosure.unit_id,
        disclosure.published_at,
    )


def document_of(
    disclosure_id: int,
    state: PublicState,
    public_title: str,
    search_body: str,
    retraction_reason: str,
    names: list[str],
    scope: Scope,
    unit_id: int,
    published_at: datetime | None,
) -> Document:
    """The index row of a published or retracted item from the columns it is made of.

    A retracted item is found by its title and the reason for the retraction only.
    """
    retracted = state == PublicState.retracted
    title, words, shown_names = tokens.document_strings(
        public_title, search_body, names, retraction_reason if retracted else None
    )
    return Document(disclosure_id, title, words, shown_names, scope, unit_id, published_at)


def write(session: Session, documents: Iterable[Document], ids: Iterable[int]) -> None:
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
        statement = postgresql_insert(POSTGRES_TABLE)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[POSTGRES_TABLE.c.id],
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
        write(session, [document] if document else [], [disclosure.id])


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
        write(session, documents, [])
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
