"""Opaque cursors for keyset pagination: a page is stable under inserts and costs one query."""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any


class CursorError(ValueError):
    """A cursor that we did not issue, or that does not fit the list it was sent to."""


@dataclass
class Page:
    items: list
    next_cursor: str | None
    has_more: bool


def encode_cursor(kind: str, values: list[Any]) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.") from None
    if not isinstance(data, list) or len(data) != arity + 1 or data[0] != kind:
        raise CursorError("The cursor does not belong to this list: pass back a next_cursor from an earlier page.")
    return data[1:]


def paginate_by_time(qs, *, kind: str, field: str, limit: int, cursor: str | None, newest_first: bool) -> Page:
    """A page of `qs` in (field, id) order, one query whatever its size; the cursor is the last row's pair."""
    rows = list(page_query(qs, kind=kind, field=field, limit=limit, cursor=cursor, newest_first=newest_first))
    return page_of_rows(rows, kind=kind, field=field, limit=limit)


def page_query(qs, *, kind: str, field: str, limit: int, cursor: str | None, newest_first: bool):
    """`qs` ordered by (field, id), after the cursor's pair, sliced to one row more than the page."""
    position = cursor_position(kind, cursor) if cursor else None
    return page_after(qs, field=field, limit=limit, position=position, newest_first=newest_first)


def cursor_position(kind: str, cursor: str) -> tuple:
    """The (moment, id) pair a cursor of `paginate_by_time` holds."""
    import uuid
    from datetime import datetime

    moment, row_id = decode_cursor(kind, cursor, 2)
    try:
        return datetime.fromisoformat(moment), uuid.UUID(row_id)
    except (TypeError, ValueError):
        raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.") from None


def page_after(qs, *, field: str, limit: int, position: tuple | None, newest_first: bool):
    from django.db.models import Q

    sign, before = ("-", "lt") if newest_first else ("", "gt")
    qs = qs.order_by(f"{sign}{field}", f"{sign}id")
    if position is not None:
        moment, row_id = position
        qs = qs.filter(Q(**{f"{field}__{before}": moment}) | Q(**{field: moment, f"id__{before}": row_id}))
    return qs[: limit + 1]


def page_of_rows(rows: list, *, kind: str, field: str, limit: int) -> Page:
    """The page of rows that `page_query` read: models, or dicts of `.values()`."""
    items, has_more = rows[:limit], len(rows) > limit
    next_cursor = None
    if has_more:
        last = items[-1]
        moment, row_id = (last[field], last["id"]) if isinstance(last, dict) else (getattr(last, field), last.id)
        next_cursor = encode_cursor(kind, [moment.isoformat(), str(row_id)])
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)
