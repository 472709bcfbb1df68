"""Reading the recovery share sheets that ``portal keys`` and ``portal demo`` print."""

from __future__ import annotations

import re


def share_lines(output: str) -> list[str]:
    """Each printed share sheet's words, in order, as one typed line."""
    sheets = output.split("=== Recovery share ")[1:]
    return [" ".join(re.findall(r"\b\d+\. ([a-z]+)", sheet)) for sheet in sheets]
