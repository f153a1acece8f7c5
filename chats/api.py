"""The chat endpoints of the JSON API: thin calls into selectors and services."""

import asyncio
import json
import uuid
from datetime import datetime
from functools import partial

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404
from ninja import Query, Router, Schema, Status
from ninja.responses import NinjaJSONEncoder
from pydantic import Field

from higgs_project.apikit.auth import api_auth_async
from higgs_project.apikit.errors import ErrorOut
from higgs_project.apikit.inputs import absolute_url
from higgs_project.apikit.rendering import json_answer

from . import replies, selectors, services, streams, uploads
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


# The hot reads (a client's list of chats, a chat's messages) are async: under the ASGI server they read
# PostgreSQL from the event loop, with no hop to a thread (higgs_project.database, docs/performance.md).


CHAT_FIELDS = tuple(ChatOut.model_fields)


@router.get("/chats", response=ChatPage, auth=api_auth_async)
async def chat_list(request, query: Query[ChatListQuery]):
    page = await selectors.chat_list(user=request.auth, limit=query.limit, cursor=query.cursor, columns=True)
    # The rows are read with the columns ChatOut lists: written as they are, in its order.
    items = [{name: row[name] for name in CHAT_FIELDS} for row in page.items]
    return json_answer(request, {"items": items, "next_cursor": page.next_cursor, "has_more": page.has_more})


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


@router.get("/chats/{chat_id}/messages", response=MessagePage, auth=api_auth_async)
async def message_list(request, chat_id: uuid.UUID, query: Query[MessageListQuery]):
    page, attachments = await selectors.message_list_on_loop(
        user=request.auth, chat_id=chat_id, limit=query.limit, after=query.after
    )
    return {
        "items": [MessageOut.from_message(request, m, attachments[m.pk]) for m in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


def _wants_stream(request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _sse(event: str, data) -> str:
    # The same encoder as the JSON answers, so that a streamed message equals a listed one.
    return streams.sse_event(event, json.dumps(data, cls=NinjaJSONEncoder))


def _message_json(request, message) -> dict:
    return MessageOut.from_message(request, message, selectors.message_attachments(message_id=message.pk)).model_dump()


def _posted_json(request, posted: replies.PostedReply) -> dict:
    return {
        "message": _message_json(request, posted.user_message),
        "reply": _message_json(request, posted.reply),
    }


async def _reply_events(request, started: dict, events):
    """Server-sent events of one reply: message, delta…, option…, then done or error."""
    yield _sse("message", started)
    async for name, payload in streams.events_kept_alive(events):
        if name == "keepalive":
            yield streams.KEEPALIVE
        elif name == "delta":
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


async def _reply_answer(request, begin, status: int):
    """Post through `begin` and answer with the finished reply, or stream it to a client that asks for events."""
    if _wants_stream(request):
        posted = await replies.reply_post(begin=begin, listener=replies.Listener.CALLER)
        started = await sync_to_async(_posted_json)(request, posted)
        return streams.event_stream_response(_reply_events(request, started, posted.events))
    posted = await replies.reply_post(begin=begin)
    # The reply's task is shielded: a client that goes away does not stop it.
    reply = await asyncio.shield(posted.task)
    return Status(status, MessageEnvelope(message=await sync_to_async(_message_json)(request, reply)))


def _chat_post_begin(*, user, chat_id: uuid.UUID, **post):
    # The chat's read goes with the post's writes, in the one step reply_post makes in the request's thread.
    return services.message_post_begin(chat=selectors.chat_get(user=user, chat_id=chat_id), **post)


def _reply_retry_begin(*, user, message_id: uuid.UUID):
    return services.reply_retry_begin(reply=selectors.message_get(user=user, message_id=message_id))


@router.post("/chats/{chat_id}/messages", response={201: MessageEnvelope, 429: ErrorOut})
async def message_create(request, chat_id: uuid.UUID, payload: MessageIn):
    """Post a message; answers 201 with the finished reply, or streams it with `Accept: text/event-stream`."""
    begin = partial(
        _chat_post_begin,
        user=request.auth,
        chat_id=chat_id,
        text=payload.text,
        attachment_urls=payload.attachments,
        preferred_kind=(payload.mode or "").replace("-", "_"),
        preferred_model=payload.model_name or "",
    )
    return await _reply_answer(request, begin, 201)


@router.post("/messages/{message_id}/retry", response={200: MessageEnvelope, 429: ErrorOut})
async def message_retry(request, message_id: uuid.UUID):
    """Write a failed reply again; answers like posting a message (200, or a stream)."""
    return await _reply_answer(request, partial(_reply_retry_begin, user=request.auth, message_id=message_id), 200)


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


class PresignIn(Schema):
    file_name: str = Field(max_length=1000)
    content_type: str = Field(max_length=200)
    size: int = Field(ge=0)


class PresignOut(Schema):
    upload_url: str
    download_url: str
    upload_id: uuid.UUID
    # Ours, beyond the contract: when upload_url stops working.
    expires_at: datetime


@router.post("/attachments/presign", response=PresignOut, tags=["attachments"])
def attachment_presign(request, payload: PresignIn):
    """Where to PUT a file (with `Content-Type: <content_type>`), and the URL to send with a message after."""
    presigned = uploads.upload_presign(
        owner=request.auth, file_name=payload.file_name, content_type=payload.content_type, size=payload.size
    )
    return PresignOut(
        upload_url=absolute_url(request, presigned.upload_url),
        download_url=absolute_url(request, presigned.download_url),
        upload_id=presigned.upload_id,
        expires_at=presigned.expires_at,
    )


@router.put(
    "/uploads/{ticket}",
    auth=None,
    response={200: AttachmentOut, frozenset({400, 403, 409, 413, 415}): ErrorOut},
    tags=["attachments"],
)
def upload_put(request, ticket: str):
    """The raw bytes of a presigned upload (local storage). The signed ticket in the URL is the credential: it
    names only the upload recorded at presign time, which alone says where the file goes, and is good once."""
    length = request.META.get("CONTENT_LENGTH")
    attachment = uploads.upload_receive(
        token=ticket,
        content_type=request.META.get("CONTENT_TYPE"),
        content_length=int(length) if length and length.isdigit() else None,
        stream=request,
    )
    return AttachmentOut.from_attachment(request, attachment)


@router.get(
    "/attachments/{upload_id}",
    response={200: AttachmentOut, frozenset({400, 409, 413, 415}): ErrorOut},
    tags=["attachments"],
)
def attachment_detail(request, upload_id: uuid.UUID):
    """One of your uploads (or results), measured; an upload that went straight to S3 is checked on first sight."""
    attachment = selectors.attachment_get(user=request.auth, attachment_id=upload_id)
    if attachment is None:
        attachment = uploads.upload_complete(owner=request.auth, upload_id=upload_id)
    if attachment is None:
        raise Http404("Attachment not found.")
    return AttachmentOut.from_attachment(request, attachment)


@router.get("/messages/{message_id}/options", response=list[OptionOut])
def option_list(request, message_id: uuid.UUID):
    message = selectors.message_get(user=request.auth, message_id=message_id)
    return [OptionOut.from_option(request, o) for o in selectors.option_list(message=message)]
