"""The assistant's reply as it is written: saved as it grows, streamed to whoever listens.

A reply runs as its own asyncio task, apart from the request that started it, so a client
that disconnects or reloads mid-reply loses nothing: the task finishes and saves the reply,
and the next load shows it. While it runs it touches the row every few seconds; a pending
reply that nobody touches any more was interrupted (see Message.is_stale) and can be retried.

The person may stop a reply (chats.services.reply_stop marks the row stopped, from any process):
the writer sees it at its next save or check, keeps the text so far, and writes nothing more.
"""

import asyncio
import logging
import time
import weakref
from contextlib import asynccontextmanager

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from recommender.services import Grounding, RecommenderError, reply_compose, reply_ground
from recommender.types import ChatImages, OptionDraft, Preference, ReplySink, Turn

from . import selectors
from .models import Message, Option
from .reply_rows import render_payload_build, reply_stop_settle

logger = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.3
HEARTBEAT_SECONDS = 10
# How often a writer waiting on the recommender (no text arriving) looks whether it was stopped.
STOP_CHECK_SECONDS = 0.5
GENERIC_FAILURE = "The assistant could not answer this time. Please try again."

# Replies being written in this process; holding them keeps their tasks from being collected.
_running: set[asyncio.Task] = set()


class StartTurn:
    """A post's turn to start its reply (see reply_start); given back once, by whoever holds it last."""

    def __init__(self, gate: asyncio.Semaphore):
        self._gate = gate
        self._held = True
        self.handed_over = False

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


# One gate for each event loop (a web process has one): a semaphore belongs to the loop it first waits on.
_start_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@asynccontextmanager
async def reply_start():
    """A turn to start a reply, held from the post's writes until the reply's model call goes out; at most
    settings.REPLY_STARTS_AT_ONCE replies of this process start at once, the others wait in the order they came.

    Under a burst of posts the event loop and the interpreter's lock would otherwise serve every post a slice
    at a time, and all of them would reach the model together, once the last had done its share of the CPU;
    in turns, the first reach it at once and each of the others waits only for those before it. Pass the
    turn to reply_launch, which hands it to the reply; a post that launches nothing gives it back here.
    """
    loop = asyncio.get_running_loop()
    gate = _start_gates.get(loop)
    if gate is None:
        gate = _start_gates[loop] = asyncio.Semaphore(max(1, settings.REPLY_STARTS_AT_ONCE))
    await gate.acquire()
    turn = StartTurn(gate)
    try:
        yield turn
    finally:
        if not turn.handed_over:
            turn.release()


class ReplyRecorder(ReplySink):
    """Saves text and options to the reply as they arrive, and passes them on as events.

    The text is saved every SAVE_EVERY_SECONDS, the first time that long after its first words: an answer
    whose words all come sooner is saved once, at its end. With nobody listening (`events` is None: the client
    waits for the finished reply), each option is kept in memory and saved with the reply's end, in the
    same transaction: nobody can see, let alone click, an option before then.
    """

    def __init__(self, reply: Message, events: asyncio.Queue | None):
        self.reply = reply
        self.events = events
        self.text_so_far = ""
        self.options: list[Option] = []
        self.stopped = False
        self._saved_at = time.monotonic()

    def publish(self, name: str, payload) -> None:
        if self.events is not None:
            self.events.put_nowait((name, payload))

    async def text(self, delta: str) -> None:
        if not self.text_so_far:
            self._saved_at = time.monotonic()
        self.text_so_far += delta
        self.publish("delta", delta)
        if time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS and not await self.save_text():
            # Stopped (or no longer pending): the recommender is left at once, as a cancellation is.
            self.stopped = True
            raise asyncio.CancelledError

    async def save_text(self) -> bool:
        """Save the text so far; False when the reply is no longer pending (the person stopped it)."""
        self._saved_at = time.monotonic()
        saved = await Message.objects.filter(pk=self.reply.pk, status=Message.Status.PENDING).aupdate(
            content_text=self.text_so_far, updated_at=_now()
        )
        return saved > 0

    async def option(self, draft: OptionDraft) -> None:
        option = Option(
            message=self.reply,
            position=len(self.options),
            kind=draft.kind,
            style_id=draft.style_id,
            motion_id=draft.motion_id,
            model_key=draft.model_key,
            enhanced_prompt=draft.enhanced_prompt,
            reason=draft.reason,
            parameters=draft.parameters,
            source_image_url=draft.source_image_url,
        )
        if self.events is not None:
            await sync_to_async(option.save)(force_insert=True)
        self.options.append(option)
        self.publish("option", option)

    def unsaved_options(self) -> list[Option]:
        return [] if self.events is not None else self.options


def _now():
    from django.utils import timezone

    return timezone.now()


def reply_context(*, reply: Message, user_message: Message) -> tuple[list[Turn], Grounding]:
    """Everything the reply reads before the recommender runs, in one step of the request's thread: the one
    that wrote the post, when its caller passes it to reply_launch, or the reply's own first."""
    history = selectors.message_history(chat_id=reply.chat_id, before_position=user_message.position)
    has_image = selectors.message_has_image(message_id=user_message.pk)
    images = (
        ChatImages()
        if has_image
        else selectors.chat_images(chat_id=reply.chat_id, before_position=user_message.position)
    )
    grounding = reply_ground(
        text=user_message.content_text or "",
        has_image=has_image,
        preference=Preference(kind=user_message.preferred_kind, model_key=user_message.preferred_model),
        chat_images=images,
        chat_id=reply.chat_id,
    )
    return history, grounding


def _end(*, reply: Message, **fields) -> bool:
    """Move a pending reply to its end state; False when it is no longer pending (stopped meanwhile). The
    instance gets the same values (its row is this writer's alone while pending: no need to read it back)."""
    fields["updated_at"] = _now()
    if Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).update(**fields) == 0:
        return False
    for name, value in fields.items():
        setattr(reply, name, value)
    return True


def _finish(
    *, reply: Message, content_text: str, options: list[Option], unsaved: list[Option], recommender: str
) -> Message:
    """End the reply complete, with its options; `unsaved` are those of them not yet saved."""
    with transaction.atomic():
        payload = render_payload_build(options=options)
        ended = _end(
            reply=reply,
            content_text=content_text,
            render_payload=payload,
            recommender=recommender,
            status=Message.Status.COMPLETE,
            error="",
        )
        if ended and unsaved:
            Option.objects.bulk_create(unsaved)
    if not ended:
        return _stopped(reply=reply, content_text=content_text)
    return reply


def _fail(*, reply: Message, reason: str, options: list[Option]) -> Message:
    with transaction.atomic():
        ended = _end(reply=reply, status=Message.Status.FAILED, error=reason, content_text=reason, render_payload=None)
        if ended:
            # Options shown before the failure would be orphans of a failed reply: a retry writes anew.
            Option.objects.filter(pk__in=[o.pk for o in options]).delete()
    if not ended:
        return _stopped(reply=reply, content_text=None)
    reply.refresh_from_db()
    return reply


def _stopped(*, reply: Message, content_text: str | None) -> Message:
    reply_stop_settle(reply=reply, content_text=content_text)
    return Message.objects.filter(pk=reply.pk).first() or reply


async def _watch(recorder: ReplyRecorder, writer: asyncio.Task) -> None:
    """Touch the reply now and then (see Message.is_stale), and cancel its writer once it is stopped."""
    touched = time.monotonic()
    while True:
        await asyncio.sleep(STOP_CHECK_SECONDS)
        if time.monotonic() - max(touched, recorder._saved_at) >= HEARTBEAT_SECONDS:
            touched = time.monotonic()
            pending = Message.objects.filter(pk=recorder.reply.pk, status=Message.Status.PENDING)
            still = await pending.aupdate(updated_at=_now()) > 0
        else:
            still = await selectors.reply_still_pending(reply_id=recorder.reply.pk)
        if not still:
            recorder.stopped = True
            writer.cancel()
            return


async def reply_run(
    *,
    reply: Message,
    user_message: Message,
    events: asyncio.Queue | None = None,
    turn: StartTurn | None = None,
    context: tuple[list[Turn], Grounding] | None = None,
) -> Message:
    """Compose the reply to `user_message` into `reply`; ends complete, failed or stopped, never pending. Its
    start `turn`, if it holds one, is given back when the model's call goes out (or the recommender ends)."""
    recorder = ReplyRecorder(reply, events)
    heartbeat = asyncio.create_task(_watch(recorder, asyncio.current_task()))
    try:
        if context is None:
            context = await sync_to_async(reply_context)(reply=reply, user_message=user_message)
        history, grounding = context
        composed = await reply_compose(
            text=user_message.content_text or "",
            history=history,
            sink=recorder,
            grounding=grounding,
            on_call=turn.release if turn is not None else None,
        )
    except asyncio.CancelledError:
        if not recorder.stopped:
            raise
        # The watcher must not cancel the writer again while the stopped reply is saved.
        heartbeat.cancel()
        asyncio.current_task().uncancel()
        reply = await sync_to_async(_stopped)(reply=reply, content_text=recorder.text_so_far)
        # Its end, as a finished reply's: listeners show the message, which says it was stopped.
        recorder.publish("done", reply)
        return reply
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
        if turn is not None:
            turn.release()
    reply = await sync_to_async(_finish)(
        reply=reply,
        content_text=composed.content_text,
        options=recorder.options,
        unsaved=recorder.unsaved_options(),
        recommender=composed.recommender,
    )
    recorder.publish("done", reply)
    return reply


def reply_launch(
    *,
    reply: Message,
    user_message: Message,
    listened: bool = True,
    turn: StartTurn | None = None,
    context: tuple[list[Turn], Grounding] | None = None,
) -> tuple[asyncio.Task, asyncio.Queue | None]:
    """Start writing the reply in its own task; the queue receives (event, payload) pairs. A caller that only
    waits for the finished reply says it does not listen (no queue: its options are saved with its end). The
    post's start `turn` (reply_start) goes with the reply, and so do its reads (reply_context) if made."""
    events: asyncio.Queue | None = asyncio.Queue() if listened else None
    if turn is not None:
        turn.handed_over = True
    task = asyncio.create_task(
        reply_run(reply=reply, user_message=user_message, events=events, turn=turn, context=context)
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task, events


STOP_WAIT_SECONDS = 2.0


async def reply_stopped_wait(*, reply: Message) -> Message:
    """The stopped reply once its writer has saved its last words (it looks every STOP_CHECK_SECONDS), or as
    it is after STOP_WAIT_SECONDS, for a writer that is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_WAIT_SECONDS
    stopped_at = reply.updated_at
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        reply = await Message.objects.aget(pk=reply.pk)
        if reply.updated_at > stopped_at:
            break
    return reply


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
