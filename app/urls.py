"""URL converters shared by both apps."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# The largest id an id column holds: ids are INTEGER columns, 32 bits on PostgreSQL.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to what a database id can be; anything larger is a 404.

    Werkzeug's converter takes any number of digits, and a number past 2^31 fails inside
    the database (a 500) instead of finding nothing.
    """

    regex = r"\d{1,10}"

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
