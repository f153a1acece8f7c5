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
    import uuid
    from datetime import datetime

    from django.db.models import Q

    sign, before = ("-", "lt") if newest_first else ("", "gt")
    qs = qs.order_by(f"{sign}{field}", f"{sign}id")
    if cursor:
        moment, row_id = decode_cursor(kind, cursor, 2)
        try:
            moment, row_id = datetime.fromisoformat(moment), uuid.UUID(row_id)
        except (TypeError, ValueError):
            raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.") from None
        qs = qs.filter(Q(**{f"{field}__{before}": moment}) | Q(**{field: moment, f"id__{before}": row_id}))
    rows = list(qs[: limit + 1])
    items, has_more = rows[:limit], len(rows) > limit
    next_cursor = None
    if has_more:
        last = items[-1]
        next_cursor = encode_cursor(kind, [getattr(last, field).isoformat(), str(last.id)])
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)
