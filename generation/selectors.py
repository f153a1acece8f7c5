"""Reads of generation jobs, scoped to their owner."""

import uuid
from datetime import datetime

from django.db.models import Q
from django.http import Http404

from chats.pagination import CursorError, Page, decode_cursor, encode_cursor

from .models import Generation


def generation_get(*, user, generation_id) -> Generation:
    try:
        return Generation.objects.select_related("result").get(pk=generation_id, owner=user)
    except Generation.DoesNotExist:
        raise Http404("Generation not found.") from None


def generation_with_result(*, generation_id) -> Generation:
    return Generation.objects.select_related("result").get(pk=generation_id)


def generation_latest_result(*, option) -> Generation | None:
    return (
        Generation.objects.select_related("result")
        .filter(option=option, status=Generation.Status.COMPLETED, result__isnull=False)
        .order_by("-finished_at")
        .first()
    )


def generation_list(*, user, chat_id=None, option_id=None, limit: int, cursor: str | None = None) -> Page:
    """The user's generations, newest first."""
    qs = Generation.objects.filter(owner=user).select_related("result").order_by("-created_at", "-id")
    if chat_id:
        qs = qs.filter(chat_id=chat_id)
    if option_id:
        qs = qs.filter(option_id=option_id)
    if cursor:
        created, generation_id = decode_cursor("generations", cursor, 2)
        try:
            created = datetime.fromisoformat(created)
            generation_id = uuid.UUID(generation_id)
        except (TypeError, ValueError):
            raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.") from None
        qs = qs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=generation_id))
    rows = list(qs[: limit + 1])
    items, has_more = rows[:limit], len(rows) > limit
    next_cursor = None
    if has_more:
        last = items[-1]
        next_cursor = encode_cursor("generations", [last.created_at.isoformat(), str(last.id)])
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)
