"""The assistant's reply as it is written: saved as it grows, streamed to whoever listens.

A reply runs as its own asyncio task, apart from the request that started it, so a client
that disconnects or reloads mid-reply loses nothing: the task finishes and saves the reply,
and the next load shows it. While it runs it touches the row every few seconds; a pending
reply that nobody touches any more was interrupted (see Message.is_stale) and can be retried.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.db import transaction

from recommender.services import RecommenderError, reply_compose
from recommender.types import OptionDraft, Preference, ReplySink, Turn

from . import selectors
from .models import Attachment, Message, Option
from .services import render_payload_build

logger = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.3
HEARTBEAT_SECONDS = 10
GENERIC_FAILURE = "The assistant could not answer this time. Please try again."

# Replies being written in this process; holding them keeps their tasks from being collected.
_running: set[asyncio.Task] = set()


class ReplyRecorder(ReplySink):
    """Saves text and options to the reply as they arrive, and passes them on as events."""

    def __init__(self, reply: Message, events: asyncio.Queue | None):
        self.reply = reply
        self.events = events
        self.text_so_far = ""
        self.options: list[Option] = []
        self._saved_at = 0.0

    def publish(self, name: str, payload) -> None:
        if self.events is not None:
            self.events.put_nowait((name, payload))

    async def text(self, delta: str) -> None:
        self.text_so_far += delta
        self.publish("delta", delta)
        if time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            await self.save_text()

    async def save_text(self) -> None:
        self._saved_at = time.monotonic()
        await Message.objects.filter(pk=self.reply.pk, status=Message.Status.PENDING).aupdate(
            content_text=self.text_so_far, updated_at=_now()
        )

    async def option(self, draft: OptionDraft) -> None:
        option = await Option.objects.acreate(
            message=self.reply,
            position=len(self.options),
            kind=draft.kind,
            style_id=draft.style_id,
            motion_id=draft.motion_id,
            model_key=draft.model_key,
            enhanced_prompt=draft.enhanced_prompt,
            reason=draft.reason,
            parameters=draft.parameters,
        )
        self.options.append(option)
        self.publish("option", option)


def _now():
    from django.utils import timezone

    return timezone.now()


def _context(*, reply: Message, user_message: Message) -> tuple[list[Turn], bool]:
    history = selectors.message_history(chat_id=reply.chat_id, before_position=user_message.position)
    has_image = user_message.attachments.filter(kind=Attachment.Kind.IMAGE).exists()
    return history, has_image


def _finish(*, reply: Message, content_text: str, options: list[Option], recommender: str) -> Message:
    with transaction.atomic():
        reply.content_text = content_text
        reply.render_payload = render_payload_build(options=options)
        reply.recommender = recommender
        reply.status = Message.Status.COMPLETE
        reply.error = ""
        reply.save(update_fields=["content_text", "render_payload", "recommender", "status", "error", "updated_at"])
    return reply


def _fail(*, reply: Message, reason: str, options: list[Option]) -> Message:
    with transaction.atomic():
        # Options shown before the failure would be orphans of a failed reply: a retry writes anew.
        Option.objects.filter(pk__in=[o.pk for o in options]).delete()
        reply.status = Message.Status.FAILED
        reply.error = reason
        reply.content_text = reason
        reply.render_payload = None
        reply.save(update_fields=["status", "error", "content_text", "render_payload", "updated_at"])
    return reply


async def _heartbeat(reply: Message) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).aupdate(updated_at=_now())


async def reply_run(*, reply: Message, user_message: Message, events: asyncio.Queue | None = None) -> Message:
    """Compose the reply to `user_message` into `reply`; ends complete or failed, never pending."""
    recorder = ReplyRecorder(reply, events)
    heartbeat = asyncio.create_task(_heartbeat(reply))
    try:
        history, has_image = await sync_to_async(_context)(reply=reply, user_message=user_message)
        composed = await reply_compose(
            text=user_message.content_text or "",
            has_image=has_image,
            history=history,
            sink=recorder,
            preference=Preference(kind=user_message.preferred_kind, model_key=user_message.preferred_model),
        )
    except RecommenderError as exc:
        reply = await sync_to_async(_fail)(reply=reply, reason=str(exc), options=recorder.options)
        recorder.publish("error", reply)
        return reply
    except Exception:
        logger.exception("The recommender failed on message %s", user_message.pk)
        reply = await sync_to_async(_fail)(reply=reply, reason=GENERIC_FAILURE, options=recorder.options)
        recorder.publish("error", reply)
        return reply
    finally:
        heartbeat.cancel()
    reply = await sync_to_async(_finish)(
        reply=reply, content_text=composed.content_text, options=recorder.options, recommender=composed.recommender
    )
    recorder.publish("done", reply)
    return reply


def reply_launch(*, reply: Message, user_message: Message) -> tuple[asyncio.Task, asyncio.Queue]:
    """Start writing the reply in its own task; the queue receives (event, payload) pairs."""
    events: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(reply_run(reply=reply, user_message=user_message, events=events))
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task, events


async def replies_wait() -> None:
    """Wait for every reply this process is writing on this event loop (shutdown, tests)."""
    loop = asyncio.get_running_loop()
    while True:
        for task in list(_running):
            # A task whose loop stopped right after it ended never ran its done callback: forget it here.
            if task.done() or task.get_loop().is_closed():
                _running.discard(task)
        pending = [task for task in _running if task.get_loop() is loop]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)
