"""The chat endpoints of the JSON API: thin calls into selectors and services."""

import uuid

from django.conf import settings
from ninja import Query, Router, Schema, Status
from pydantic import Field

from . import selectors, services
from .schemas import (
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


@router.post("/chats/{chat_id}/messages", response={201: MessageEnvelope})
def message_create(request, chat_id: uuid.UUID, payload: MessageIn):
    chat = selectors.chat_get(user=request.auth, chat_id=chat_id)
    reply = services.message_post(chat=chat, text=payload.text, attachment_urls=payload.attachments)
    return Status(201, MessageEnvelope(message=MessageOut.from_message(request, reply)))


@router.get("/messages/{message_id}/options", response=list[OptionOut])
def option_list(request, message_id: uuid.UUID):
    message = selectors.message_get(user=request.auth, message_id=message_id)
    return [OptionOut.from_option(request, o) for o in selectors.option_list(message=message)]
