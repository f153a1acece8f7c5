"""Reads of chats, messages, options and attachments, always scoped to their owner."""

import uuid

from django.core.files.storage import default_storage
from django.db.models import Prefetch
from django.http import Http404

from recommender.types import Turn

from .models import ApiToken, Attachment, Chat, Message, Option
from .pagination import CursorError, Page, decode_cursor, encode_cursor, paginate_by_time


def chat_get(*, user, chat_id: uuid.UUID) -> Chat:
    """The user's chat, or 404: another person's chat does not exist for them."""
    try:
        return Chat.objects.get(pk=chat_id, owner=user)
    except Chat.DoesNotExist:
        raise Http404("Chat not found.") from None


def chat_list(*, user, limit: int, cursor: str | None = None) -> Page:
    """The user's chats, most recently active first (last message, or creation before any)."""
    return paginate_by_time(
        Chat.objects.filter(owner=user),
        kind="chats",
        field="last_activity_at",
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


def message_get(*, user, message_id: uuid.UUID) -> Message:
    try:
        return Message.objects.select_related("chat").get(pk=message_id, chat__owner=user)
    except Message.DoesNotExist:
        raise Http404("Message not found.") from None


def message_list(*, chat: Chat, limit: int, after: str | None = None) -> Page:
    """A chat's messages, oldest first, each with its attachments (two queries a page)."""
    qs = (
        Message.objects.filter(chat=chat)
        .order_by("position")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id")))
    )
    if after:
        (position,) = decode_cursor("messages", after, 1)
        if not isinstance(position, int) or position < 0:
            raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.")
        qs = qs.filter(position__gt=position)
    rows = list(qs[: limit + 1])
    items, has_more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor("messages", [items[-1].position]) if has_more else None
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)


def message_history(*, chat_id, before_position: int, limit: int = 12) -> list[Turn]:
    """Earlier turns of the chat, oldest first, for follow-ups like "make it darker"."""
    rows = (
        Message.objects.filter(chat_id=chat_id, position__lt=before_position, content_text__isnull=False)
        .exclude(content_text="")
        .exclude(author_type=Message.Author.SYSTEM)
        .exclude(status=Message.Status.FAILED)
        .order_by("-position")
        .values_list("author_type", "content_text")[:limit]
    )
    return [Turn(role=author, text=text) for author, text in reversed(rows)]


def option_list(*, message: Message) -> list[Option]:
    return list(Option.objects.filter(message=message).order_by("position"))


def option_get(*, user, option_id: uuid.UUID) -> Option:
    try:
        return Option.objects.select_related("message__chat").get(pk=option_id, message__chat__owner=user)
    except Option.DoesNotExist:
        raise Http404("Option not found.") from None


def attachment_find_by_url(*, owner, url: str) -> Attachment | None:
    """The owner's attachment that a URL of ours points at (absolute or not), or None."""
    from urllib.parse import unquote, urlsplit

    from django.conf import settings

    if not url:
        return None
    media_path = urlsplit(settings.MEDIA_URL).path
    path = unquote(urlsplit(url).path)
    names = {path[len(media_path) :] if path.startswith(media_path) else path.lstrip("/")}
    # S3 URLs: the key is the path, after the bucket's name in path-style URLs (an endpoint like MinIO's).
    bucket = getattr(default_storage, "bucket_name", None)
    if bucket and path.startswith(f"/{bucket}/"):
        names.add(path[len(bucket) + 2 :])
    return Attachment.objects.filter(owner=owner, file__in=names).first()


def attachment_get(*, user, attachment_id: uuid.UUID) -> Attachment | None:
    return Attachment.objects.filter(pk=attachment_id, owner=user).first()


def attachment_list(*, chat: Chat, limit: int, cursor: str | None = None) -> Page:
    """A chat's attachments, oldest first."""
    return paginate_by_time(
        Attachment.objects.filter(chat=chat),
        kind="attachments",
        field="created_at",
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )


def api_token_find(*, key_hash: str) -> ApiToken | None:
    # key_hash is unique: get() spares the ORDER BY that first() adds, on the hottest query there is.
    try:
        return ApiToken.objects.select_related("user").get(key_hash=key_hash, user__is_active=True)
    except ApiToken.DoesNotExist:
        return None
