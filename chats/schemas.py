"""The JSON shapes of the API contract (../shared/docs/api-contract.md), field for field."""

import uuid
from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from higgs_project.apikit.inputs import absolute_url

from .models import Attachment, Chat, Message, Option


def _absolute_chunks(request, chunks):
    """Result chunks carry our media paths; the client needs absolute URLs."""
    if not chunks:
        return chunks
    return [{**c, "imageUrl": absolute_url(request, c["imageUrl"])} if c.get("imageUrl") else c for c in chunks]


class ChatIn(Schema):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)


class ChatRenameIn(Schema):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)


class ChatOut(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    title: str
    message_count: int
    last_message_at: datetime | None
    created_at: datetime

    @staticmethod
    def from_chat(chat: Chat) -> "ChatOut":
        return ChatOut(
            id=chat.id,
            user_id=chat.owner_id,
            title=chat.title,
            message_count=chat.message_count,
            last_message_at=chat.last_message_at,
            created_at=chat.created_at,
        )


class ChatEnvelope(Schema):
    chat: ChatOut


class ChatPage(Schema):
    items: list[ChatOut]
    next_cursor: str | None
    has_more: bool


class OkOut(Schema):
    ok: bool


class AttachmentOut(Schema):
    id: uuid.UUID
    kind: Literal["image", "video", "other"]
    mime: str
    size_bytes: int
    storage_url: str | None
    option_id: uuid.UUID | None
    width: int | None
    height: int | None
    duration_ms: int | None
    created_at: datetime

    @staticmethod
    def from_attachment(request, attachment: Attachment) -> "AttachmentOut":
        return AttachmentOut(
            id=attachment.id,
            kind=attachment.kind,
            mime=attachment.mime,
            size_bytes=attachment.size_bytes,
            storage_url=absolute_url(request, attachment.file.url if attachment.file else None),
            option_id=attachment.option_id,
            width=attachment.width,
            height=attachment.height,
            duration_ms=attachment.duration_ms,
            created_at=attachment.created_at,
        )


class MessageIn(Schema):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=8000)
    attachments: list[str] | None = Field(default=None, max_length=10)
    # Ours, beyond the contract: the kind of result and the model the options should use.
    mode: Literal["text-to-image", "image-to-video", "text-to-video"] | None = None
    model_name: str | None = Field(default=None, max_length=64)


class MessageOut(Schema):
    id: uuid.UUID
    chat_id: uuid.UUID
    author_type: Literal["user", "assistant", "system"]
    content_text: str | None
    render_payload: list[dict] | None
    attachments: list[AttachmentOut]
    created_at: datetime
    # Ours, beyond the contract: the state of an assistant reply and who wrote it.
    status: Literal["pending", "complete", "failed", "stopped"]
    error: str | None
    recommender: str | None

    @staticmethod
    def from_message(request, message: Message, attachments: list[Attachment] | None = None) -> "MessageOut":
        """`attachments`: the message's, when read apart (else `message.attachments`)."""
        if attachments is None:
            attachments = message.attachments.all()
        return MessageOut(
            id=message.id,
            chat_id=message.chat_id,
            author_type=message.author_type,
            content_text=message.content_text,
            render_payload=_absolute_chunks(request, message.render_payload),
            attachments=[AttachmentOut.from_attachment(request, a) for a in attachments],
            created_at=message.created_at,
            status=message.display_status,
            error=message.display_error or None,
            recommender=message.recommender or None,
        )


class MessageEnvelope(Schema):
    message: MessageOut


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None
    has_more: bool


class OptionOut(Schema):
    id: uuid.UUID
    message_id: uuid.UUID
    tool_type: Literal["text_to_image", "image_to_video", "text_to_video"]
    style_id: str
    model_key: str
    enhanced_prompt: str
    reason: str
    result_url: str | None
    created_at: datetime
    # Ours, beyond the contract: the settings the option generates with (those its model accepts).
    parameters: dict

    @staticmethod
    def from_option(request, option: Option) -> "OptionOut":
        return OptionOut(
            id=option.id,
            message_id=option.message_id,
            tool_type=option.kind,
            style_id=option.catalogue_id,
            model_key=option.model_key,
            enhanced_prompt=option.enhanced_prompt,
            reason=option.reason,
            result_url=absolute_url(request, option.result_url),
            created_at=option.created_at,
            parameters=option.parameters or {},
        )
