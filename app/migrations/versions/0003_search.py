"""search: full-text index of public disclosures (FTS5 on SQLite, tsvector + GIN on PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00.000000

The index is not a model: its tables are backend-specific and skipped by autogenerate
(``app.migrate.include_object``). ``portal disclosures reindex`` fills it; this migration
does so too for items published before it existed.
"""

import json
import re
import unicodedata

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SQLITE = [
    "CREATE VIRTUAL TABLE disclosure_search USING fts5("
    "title, tokens, names UNINDEXED, tokenize='unicode61 remove_diacritics 0')",
]
POSTGRES = [
    "CREATE TABLE disclosure_search ("
    " id INTEGER PRIMARY KEY REFERENCES disclosures (id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '',"
    " tokens TEXT NOT NULL DEFAULT '',"
    " names TEXT NOT NULL DEFAULT '',"
    " tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', tokens)) STORED)",
    "CREATE INDEX ix_disclosure_search_tsv ON disclosure_search USING gin (tsv)",
]


# The tokeniser as it was when this revision was written (a migration keeps its own copy:
# the application's may change, and then brings its own reindexing revision).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
_WORD_MAX = 40


def _tokens(text: str) -> list[str]:
    tokens = []
    for match in _TOKEN_RE.finditer(unicodedata.normalize("NFKC", text or "").casefold()):
        run = match.group()
        if match.lastgroup != "cjk":
            tokens.append(run[:_WORD_MAX])
            continue
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        tokens.append(run[-1])
    return tokens


def index_string(*texts: str) -> str:
    return " ".join(token for text in texts for token in _tokens(text))


def upgrade() -> None:
    bind = op.get_bind()
    for statement in SQLITE if bind.dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)
    _index_existing(bind)


def _index_existing(bind) -> None:
    """Index items published before search existed (plain SQL: models may move on)."""
    rows = bind.execute(sa.text(
        "SELECT d.id, d.public_state, d.public_title, d.search_text, r.action, r.reason, "
        "r.attachments_json FROM disclosures d JOIN disclosure_revisions r "
        "ON r.disclosure_id = d.id AND r.number = d.revision_count "
        "WHERE d.public_state IN ('published', 'retracted')"
    )).all()
    documents = []
    for id_, state, title, search_text, action, reason, attachments_json in rows:
        if state == "retracted":
            body, names = (reason if action == "retract" else ""), []
        else:
            body = search_text.partition("\n")[2]
            names = [row[1] for row in json.loads(attachments_json or "[]")]
        documents.append({
            "id": id_,
            "title": index_string(title),
            "tokens": index_string(body, *names),
            "names": "\n".join(names),
        })
    if documents:
        key = "rowid" if bind.dialect.name == "sqlite" else "id"
        bind.execute(sa.text(
            f"INSERT INTO disclosure_search ({key}, title, tokens, names) "
            "VALUES (:id, :title, :tokens, :names)"
        ), documents)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS disclosure_search")
