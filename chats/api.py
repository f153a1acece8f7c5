"""The chat endpoints of the JSON API: thin calls into selectors and services."""

import asyncio
import json
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema, Status
from ninja.responses import NinjaJSONEncoder
from pydantic import Field

from . import replies, selectors, services
from .schemas import (
    AttachmentOut,
    ChatEnvelope,
    ChatIn,
    ChatOut,
    ChatPage,
    ChatRenameIn,
    MessageEnvelope,
    MessageIn,
    MessageOut,
    MessagePage,
    OkOut,
    OptionOut,
)

router = Router(tags=["chats"])

KEEPALIVE_SECONDS = 15


class ChatListQuery(Schema):
    limit: int = Field(default=20, ge=1, le=settings.API_PAGE_MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


class MessageListQuery(Schema):
    limit: int = Field(default=50, ge=1, le=settings.API_PAGE_MAX_LIMIT)
    after: str | None = Field(default=None, max_length=500)


@router.post("/chats", response={201: ChatOut})
def chat_create(request, payload: ChatIn):
    chat = services.chat_create(owner=request.auth, title=payload.title)
    return Status(201, ChatOut.from_chat(chat))


@router.get("/chats", response=ChatPage)
def chat_list(request, query: Query[ChatListQuery]):
    page = selectors.chat_list(user=request.auth, limit=query.limit, cursor=query.cursor)
    return ChatPage(
        items=[ChatOut.from_chat(c) for c in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/chats/{chat_id}", response=ChatOut)
def chat_detail(request, chat_id: uuid.UUID):
    return ChatOut.from_chat(selectors.chat_get(user=request.auth, chat_id=chat_id))


@router.patch("/chats/{chat_id}", response=ChatEnvelope)
def chat_rename(request, chat_id: uuid.UUID, payload: ChatRenameIn):
    chat = selectors.chat_get(user=request.auth, chat_id=chat_id)
    chat = services.chat_rename(chat=chat, title=payload.title)
    return ChatEnvelope(chat=ChatOut.from_chat(chat))


@router.delete("/chats/{chat_id}", response=OkOut)
def chat_delete(request, chat_id: uuid.UUID):
    services.chat_delete(chat=selectors.chat_get(user=request.auth, chat_id=chat_id))
    return OkOut(ok=True)


@router.get("/chats/{chat_id}/messages", response=MessagePage)
def message_list(request, chat_id: uuid.UUID, query: Query[MessageListQuery]):
    chat = selectors.chat_get(user=request.auth, chat_id=chat_id)
    page = selectors.message_list(chat=chat, limit=query.limit, after=query.after)
    return MessagePage(
        items=[MessageOut.from_message(request, m) for m in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


def _wants_stream(request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _sse(event: str, data) -> str:
    # The same encoder as the JSON answers, so that a streamed message equals a listed one.
    return f"event: {event}\ndata: {json.dumps(data, cls=NinjaJSONEncoder)}\n\n"


def _message_json(request, message) -> dict:
    return MessageOut.from_message(request, message).model_dump()


async def _reply_events(request, started: dict, events):
    """Server-sent events of one reply: message, delta…, option…, then done or error."""
    yield _sse("message", started)
    while True:
        try:
            name, payload = await asyncio.wait_for(events.get(), timeout=KEEPALIVE_SECONDS)
        except TimeoutError:
            yield ": keep-alive\n\n"
            continue
        if name == "delta":
            yield _sse("delta", {"text": payload})
        elif name == "option":
            yield _sse("option", OptionOut.from_option(request, payload).model_dump())
        elif name == "done":
            yield _sse("done", {"message": await sync_to_async(_message_json)(request, payload)})
            return
        elif name == "error":
            message = await sync_to_async(_message_json)(request, payload)
            yield _sse("error", {"detail": payload.error, "message": message})
            return


async def _reply_answer(request, user_message, reply, status: int):
    if _wants_stream(request):
        started = {
            "message": await sync_to_async(_message_json)(request, user_message),
            "reply": await sync_to_async(_message_json)(request, reply),
        }
        _task, events = replies.reply_launch(reply=reply, user_message=user_message)
        response = StreamingHttpResponse(_reply_events(request, started, events), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    task, _events = replies.reply_launch(reply=reply, user_message=user_message)
    # The reply's task is shielded: a client that goes away does not stop it.
    reply = await asyncio.shield(task)
    return Status(status, MessageEnvelope(message=await sync_to_async(_message_json)(request, reply)))


@router.post("/chats/{chat_id}/messages", response={201: MessageEnvelope})
async def message_create(request, chat_id: uuid.UUID, payload: MessageIn):
    """Post a message; answers 201 with the finished reply, or streams it with `Accept: text/event-stream`."""
    chat = await sync_to_async(selectors.chat_get)(user=request.auth, chat_id=chat_id)
    user_message, reply = await sync_to_async(services.message_post_begin)(
        chat=chat, text=payload.text, attachment_urls=payload.attachments
    )
    return await _reply_answer(request, user_message, reply, 201)


@router.post("/messages/{message_id}/retry", response={200: MessageEnvelope})
async def message_retry(request, message_id: uuid.UUID):
    """Write a failed reply again; answers like posting a message (200, or a stream)."""
    reply = await sync_to_async(selectors.message_get)(user=request.auth, message_id=message_id)
    user_message, reply = await sync_to_async(services.reply_retry_begin)(reply=reply)
    return await _reply_answer(request, user_message, reply, 200)


class AttachmentPage(Schema):
    items: list[AttachmentOut]
    next_cursor: str | None
    has_more: bool


class AttachmentListQuery(Schema):
    limit: int = Field(default=50, ge=1, le=settings.API_PAGE_MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


@router.get("/attachments/by-chat/{chat_id}", response=AttachmentPage, tags=["attachments"])
def attachment_list(request, chat_id: uuid.UUID, query: Query[AttachmentListQuery]):
    chat = selectors.chat_get(user=request.auth, chat_id=chat_id)
    page = selectors.attachment_list(chat=chat, limit=query.limit, cursor=query.cursor)
    return AttachmentPage(
        items=[AttachmentOut.from_attachment(request, a) for a in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/messages/{message_id}/options", response=list[OptionOut])
def option_list(request, message_id: uuid.UUID):
    message = selectors.message_get(user=request.auth, message_id=message_id)
    return [OptionOut.from_option(request, o) for o in selectors.option_list(message=message)]
