"""Cursor pagination: cursors are the last row id a page showed, opaque to clients."""

from __future__ import annotations

from townhall.domain.errors import Invalid

PAGE_MAX = 100


def parse_cursor(cursor: str | None) -> int | None:
    """The row id behind a cursor this API gave out; None for the first page."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise Invalid("invalid_cursor", "cursor is not one this API gave out", "cursor")
    return int(cursor)
