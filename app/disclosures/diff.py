"""Readable differences between two revisions, as escaped HTML with <ins> and <del>."""

from __future__ import annotations

import difflib

from markupsafe import Markup, escape


def _inline(old: str, new: str) -> str:
    """Character-level difference inside a changed block (works for Chinese and English)."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out.append(str(escape(old[a1:a2])))
            continue
        if a2 > a1:
            out.append(f"<del>{escape(old[a1:a2])}</del>")
        if b2 > b1:
            out.append(f"<ins>{escape(new[b1:b2])}</ins>")
    return "".join(out)


def diff_html(old: str, new: str) -> Markup:
    """Lines of ``new`` against ``old``; unchanged lines plain, changes marked up."""
    old_lines = old.splitlines()
    new_lines = new.splitlines()
    rows: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(f'<div class="diff-line">{escape(line)}</div>' for line in old_lines[a1:a2])
        elif op == "replace" and (a2 - a1) == (b2 - b1):
            for o, n in zip(old_lines[a1:a2], new_lines[b1:b2], strict=True):
                rows.append(f'<div class="diff-line diff-changed">{_inline(o, n)}</div>')
        elif op == "replace":
            inline = _inline("\n".join(old_lines[a1:a2]), "\n".join(new_lines[b1:b2]))
            rows.append(f'<div class="diff-line diff-changed">{inline}</div>')
        elif op == "delete":
            rows.extend(
                f'<div class="diff-line diff-removed"><del>{escape(line)}</del></div>'
                for line in old_lines[a1:a2]
            )
        else:
            rows.extend(
                f'<div class="diff-line diff-added"><ins>{escape(line)}</ins></div>'
                for line in new_lines[b1:b2]
            )
    return Markup("\n".join(rows))  # noqa: S704 (every piece of text is escaped above)
