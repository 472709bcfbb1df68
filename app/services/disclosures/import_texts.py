"""The search text of imported items, made in the bulk import's worker processes.

A worker imports this module alone, which needs neither the database layer nor Flask, so a
worker is ready a fraction of a second after it starts; jobs and results are plain strings
and flags, cheap to send between processes.
"""

from __future__ import annotations

from app.services.sanitize import markdown_to_text
from app.services.search.tokens import document_strings

# What is shown of an item: whether it is retracted, its public title, its text (Markdown),
# the reason for its retraction, its attachments' names.
Job = tuple[bool, str, str, str, list[str]]
# Its plain text (the disclosure's ``search_body``) and its index strings (title, tokens,
# names: ``search.index.Document``).
Texts = tuple[str, str, str, str]


def search_texts(job: Job) -> Texts:
    """The plain text and the search index strings of one item, as ``search.index`` makes
    them from the stored columns."""
    retracted, title, body, reason, names = job
    search_body = "" if retracted else markdown_to_text(body)
    indexed = document_strings(title, search_body, names, reason if retracted else None)
    return (search_body, *indexed)
