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
