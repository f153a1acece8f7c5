"""Reads of chats, messages, options and attachments, always scoped to their owner."""

import uuid

from django.core.files.storage import default_storage
from django.db.models import F, Prefetch
from django.http import Http404

from higgs_project.apikit.pagination import (
    CursorError,
    Page,
    cursor_position,
    decode_cursor,
    encode_cursor,
    page_after,
    page_of_rows,
    paginate_by_time,
)
from higgs_project.database import Read
from recommender.types import ChatImages, Turn

from .models import Attachment, Chat, Message, Option

_chat_read = Read(
    lambda *, limit, chat_id, owner_id: Chat.objects.filter(pk=chat_id, owner_id=owner_id)[:limit], models=True
)


def chat_get(*, user, chat_id: uuid.UUID) -> Chat:
    """The user's chat, or 404: another person's chat does not exist for them."""
    found = _chat_read.sync(1, chat_id=chat_id, owner_id=user.pk)
    if not found:
        raise Http404("Chat not found.")
    return found[0]


_message_attachments_read = Read(
    lambda *, limit, message_id: Attachment.objects.filter(message_id=message_id).order_by("created_at", "id"),
    models=True,
)


def message_attachments(*, message_id) -> list[Attachment]:
    """A message's attachments, oldest first."""
    return _message_attachments_read.sync(message_id=message_id)


def chat_list(*, user, limit: int, cursor: str | None = None, columns: bool = False):
    """The user's chats, most recently active first (last message, or creation before any): a Page of chats.

    With `columns`, an awaitable of the Page of the API's columns instead (dicts with `user_id`), read on the
    event loop under the ASGI server (see `higgs_project.database.Read`): one query, no thread.
    """
    if columns:
        return _chat_list_columns(user=user, limit=limit, cursor=cursor)
    return paginate_by_time(
        Chat.objects.filter(owner=user),
        kind="chats",
        field="last_activity_at",
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


def _chat_page(*, owner_id, limit: int, moment=None, row_id=None):
    return page_after(
        Chat.objects.filter(owner_id=owner_id).values(
            "id", "title", "message_count", "last_message_at", "created_at", "last_activity_at", user_id=F("owner_id")
        ),
        field="last_activity_at",
        limit=limit,
        position=(moment, row_id) if moment is not None else None,
        newest_first=True,
    )


_chat_page_read = Read(_chat_page)


async def _chat_list_columns(*, user, limit: int, cursor: str | None = None) -> Page:
    moment, row_id = cursor_position("chats", cursor) if cursor else (None, None)
    rows = await _chat_page_read(limit, owner_id=user.pk, moment=moment, row_id=row_id)
    return page_of_rows(rows, kind="chats", field="last_activity_at", limit=limit)


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


def _messages_after(after: str | None) -> int | None:
    if not after:
        return None
    (position,) = decode_cursor("messages", after, 1)
    if not isinstance(position, int) or position < 0:
        raise CursorError("The cursor is malformed: pass back a next_cursor from an earlier page.")
    return position


def _message_page(*, owner_id, chat_id, limit: int, position=None):
    qs = Message.objects.filter(chat_id=chat_id, chat__owner_id=owner_id).order_by("position")
    if position is not None:
        qs = qs.filter(position__gt=position)
    return qs[: limit + 1]


_message_page_read = Read(_message_page, models=True)
_attachments_read = Read(
    lambda *, limit, message_ids: Attachment.objects.filter(message_id__in=message_ids).order_by("created_at", "id"),
    models=True,
)
_chat_exists_read = Read(
    lambda *, limit, owner_id, chat_id: Chat.objects.filter(pk=chat_id, owner_id=owner_id).values("id")
)


async def message_list_on_loop(*, user, chat_id: uuid.UUID, limit: int, after: str | None = None):
    """`message_list` of the user's chat (404 if not theirs), read on the event loop: the page, then its
    attachments (the chat is checked apart only when the page is empty). Returns the page and the
    attachments of each message, by message id."""
    try:
        position = _messages_after(after)
    except CursorError:
        await _chat_exists_or_404(user=user, chat_id=chat_id)
        raise
    rows = await _message_page_read(limit, owner_id=user.pk, chat_id=chat_id, position=position)
    if not rows:
        await _chat_exists_or_404(user=user, chat_id=chat_id)
    items, has_more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor("messages", [items[-1].position]) if has_more else None
    attachments = {m.pk: [] for m in items}
    if items:
        for attachment in await _attachments_read(message_ids=list(attachments)):
            attachments[attachment.message_id].append(attachment)
    return Page(items=items, next_cursor=next_cursor, has_more=has_more), attachments


_reply_pending_read = Read(
    lambda *, limit, reply_id: Message.objects.filter(pk=reply_id, status=Message.Status.PENDING).values("id")
)


async def reply_still_pending(*, reply_id: uuid.UUID) -> bool:
    """Whether a reply is still being written (not stopped, not ended), read on the event loop: its writer
    asks twice a second."""
    return bool(await _reply_pending_read(reply_id=reply_id))


async def _chat_exists_or_404(*, user, chat_id: uuid.UUID) -> None:
    if not await _chat_exists_read(owner_id=user.pk, chat_id=chat_id):
        raise Http404("Chat not found.")


_history_read = Read(
    lambda *, limit, chat_id, before_position: (
        Message.objects.filter(chat_id=chat_id, position__lt=before_position, content_text__isnull=False)
        .exclude(content_text="")
        .exclude(author_type=Message.Author.SYSTEM)
        .exclude(status=Message.Status.FAILED)
        .order_by("-position")
        .values("author_type", "content_text")[:limit]
    )
)


def message_history(*, chat_id, before_position: int, limit: int = 12) -> list[Turn]:
    """Earlier turns of the chat, oldest first, for follow-ups like "make it darker"."""
    rows = _history_read.sync(limit, chat_id=chat_id, before_position=before_position)
    return [Turn(role=row["author_type"], text=row["content_text"]) for row in reversed(rows)]


_message_image_read = Read(
    lambda *, limit, message_id: Attachment.objects.filter(message_id=message_id, kind=Attachment.Kind.IMAGE).values(
        "id"
    )[:limit]
)


def message_has_image(*, message_id) -> bool:
    """Whether an image is attached to the message."""
    return bool(_message_image_read.sync(1, message_id=message_id))


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


# How many of a chat's newest pictures are looked at for "animate it" or "the second one as a video".
CHAT_IMAGES_READ = 12


_chat_images_read = Read(
    lambda *, limit, chat_id, before_position: (
        Attachment.objects.filter(chat_id=chat_id, kind=Attachment.Kind.IMAGE, message__position__lt=before_position)
        .exclude(file="")
        .order_by("-created_at")
        .values("file", "message_id", "option_id", "option__position")[:limit]
    )
)


def chat_images(*, chat_id, before_position: int) -> ChatImages:
    """The pictures made or attached in a chat before a message: the newest, and the newest reply's by option."""
    rows = _chat_images_read.sync(CHAT_IMAGES_READ, chat_id=chat_id, before_position=before_position)
    if not rows:
        return ChatImages()
    url = Attachment._meta.get_field("file").storage.url
    by_option: dict[int, str] = {}
    made = [row for row in rows if row["option_id"] is not None]
    if made:
        newest_reply = made[0]["message_id"]
        for row in made:
            if row["message_id"] == newest_reply:
                by_option.setdefault(row["option__position"], url(row["file"]))
    places = range(max(by_option) + 1) if by_option else range(0)
    return ChatImages(newest=url(rows[0]["file"]), by_option=tuple(by_option.get(place, "") for place in places))
