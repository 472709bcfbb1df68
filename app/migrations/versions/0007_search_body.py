"""disclosures: the searched body in its own column, apart from the title

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:00:00.000000

``search_text`` held a published item's title and the plain text of its body as one string,
``f"{title}\\n{body}"``, which the search index and the snippets split again at the first
line break. ``search_body`` holds the body alone; the title searched is ``public_title``.

An existing row is split after its public title and the line break that follows it, as it
was written: a title with a line break in it (from before titles were one line) stays out
of the body. A row that does not start with its public title is split at its first line
break. Only published items have a searched text; the others keep theirs (empty) as it is.
The downgrade joins title and body again.

Nothing the public site shows changes, but for the snippets of items whose title had a line
break; the public app starts anew with the code this migration belongs to, and with it its
page cache. The search index is left as it is: ``portal disclosures reindex`` takes such a
title's later lines out of an item's indexed body too.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000


def _body(title: str, search_text: str) -> str:
    head = f"{title}\n"
    if search_text.startswith(head):
        return search_text[len(head):]
    return search_text.partition("\n")[2]


def upgrade() -> None:
    op.alter_column(
        'disclosures', 'search_text', new_column_name='search_body',
        existing_type=sa.Text(), existing_nullable=False,
    )
    bind = op.get_bind()
    published = sa.text(
        "SELECT id, public_title, search_body FROM disclosures "
        "WHERE public_state = 'published' AND id > :after ORDER BY id LIMIT :n"
    )
    split = sa.text("UPDATE disclosures SET search_body = :body WHERE id = :id")
    after = 0
    while rows := bind.execute(published, {"after": after, "n": BATCH}).all():
        bind.execute(split, [
            {"id": id_, "body": _body(title, search_text)} for id_, title, search_text in rows
        ])
        after = rows[-1].id


def downgrade() -> None:
    op.get_bind().execute(sa.text(
        "UPDATE disclosures SET search_body = public_title || :line_break || search_body "
        "WHERE public_state = 'published'"
    ), {"line_break": "\n"})
    op.alter_column(
        'disclosures', 'search_body', new_column_name='search_text',
        existing_type=sa.Text(), existing_nullable=False,
    )
