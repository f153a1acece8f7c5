"""The assistant's reply from the post to its last saved word: reply_post starts it, a writer saves it as it grows
and passes it on to whoever listens.

reply_post is the one way a reply starts (a post, a retry, an edit, a new chat, "Animate this image"; pages and
API alike): it waits for a turn, makes the post's writes and the reply's reads in one step of the request's
thread, and starts the writer in an asyncio task of its own, apart from the request. A client that disconnects or
reloads mid-reply loses nothing: the task finishes and saves the reply, and the next load shows it. While it runs
it touches the row every few seconds; a pending reply that nobody touches any more was interrupted (see
Message.is_stale) and can be retried.

The person may stop a reply (chats.services.reply_stop marks the row stopped, from any process):
the writer sees it at its next save or check, keeps the text so far, and writes nothing more.
"""

import asyncio
import copy
import enum
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
# How long a page's stream may take to come for the live events of a reply that has ended.
PAGE_EVENTS_KEPT_SECONDS = 60
GENERIC_FAILURE = "The assistant could not answer this time. Please try again."

# Replies being written in this process; holding them keeps their tasks from being collected.
_running: set[asyncio.Task] = set()
# The live events of replies written for a page, by reply id, until the page's stream takes them.
_page_events: dict = {}


class Listener(enum.Enum):
    """Who follows a reply as it is written."""

    # The client waits for the finished reply (the API's plain answer): its options are saved with its end.
    NOBODY = "nobody"
    # The caller streams PostedReply.events in its own response (the API's server-sent events).
    CALLER = "caller"
    # The page's stream, a request of its own, takes the events when it connects (reply_events_take).
    PAGE = "page"


@dataclass(frozen=True)
class PostedReply:
    """A post whose reply is being written."""

    user_message: Message
    reply: Message  # as posted: pending
    task: asyncio.Task  # the writer; its result is the reply as it ended (complete, failed or stopped)
    events: asyncio.Queue | None  # (event, payload) pairs, for a Listener.CALLER


class _Turn:
    """A post's turn to start its reply; given back once, when its model call goes out or its post is refused."""

    def __init__(self, gate: asyncio.Semaphore):
        self._gate = gate
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


# One gate for each event loop (a web process has one): a semaphore belongs to the loop it first waits on.
_start_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def _turn_take() -> _Turn:
    """A turn to start a reply: at most settings.REPLY_STARTS_AT_ONCE replies of this process start at once, the
    others wait in the order they came.

    Under a burst of posts the event loop and the interpreter's lock would otherwise serve every post a slice
    at a time, and all of them would reach the model together, once the last had done its share of the CPU;
    in turns, the first reach it at once and each of the others waits only for those before it.
    """
    loop = asyncio.get_running_loop()
    gate = _start_gates.get(loop)
    if gate is None:
        gate = _start_gates[loop] = asyncio.Semaphore(max(1, settings.REPLY_STARTS_AT_ONCE))
    await gate.acquire()
    return _Turn(gate)


async def reply_post(
    *, begin: Callable[[], tuple[Message, Message]], listener: Listener = Listener.NOBODY
) -> PostedReply:
    """Post, and start writing the reply: the one way a reply starts.

    `begin` makes the post's writes and returns the message to answer and its pending reply (for example
    chats.services.message_post_begin with its arguments); it runs with the reply's reads in one step of the
    request's thread, in the post's turn. The turn goes with the reply until its model call goes out. A refused
    post (`begin` raises) gives its turn back, starts nothing, and its error goes to the caller.
    """
    turn = await _turn_take()
    try:
        user_message, reply, reads = await sync_to_async(_begin_and_read)(begin)
    except BaseException:
        turn.release()
        raise
    events: asyncio.Queue | None = None if listener is Listener.NOBODY else asyncio.Queue()
    # The writer has its own copy of the reply: the caller's stays as posted.
    recorder = ReplyRecorder(copy.copy(reply), events)
    task = asyncio.create_task(_write(recorder=recorder, user_message=user_message, reads=reads, turn=turn))
    _running.add(task)
    task.add_done_callback(_running.discard)
    if listener is Listener.PAGE:
        _page_events[reply.pk] = events
        # Nobody came for the events (no browser, or it left): forget them a while after the reply ends.
        task.add_done_callback(
            lambda t: t.get_loop().call_later(PAGE_EVENTS_KEPT_SECONDS, _page_events.pop, reply.pk, None)
        )
    return PostedReply(
        user_message=user_message, reply=reply, task=task, events=events if listener is Listener.CALLER else None
    )


def reply_events_take(*, reply_id) -> asyncio.Queue | None:
    """The live events of a reply this process writes for a page, for the first stream that asks; None for any
    later one (a reload, another process), which follows the saved reply instead."""
    return _page_events.pop(reply_id, None)


def _begin_and_read(begin: Callable[[], tuple[Message, Message]]) -> tuple[Message, Message, tuple]:
    user_message, reply = begin()
    return user_message, reply, _reads(reply=reply, user_message=user_message)


def _reads(*, reply: Message, user_message: Message) -> tuple[list[Turn], Grounding]:
    """Everything the reply reads before the recommender runs: the chat's history and the grounding."""
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


def _reply_save(*, reply: Message, options: list[Option], **fields) -> bool:
    """The one way a reply's words and options are saved, as it is written and at its end: `fields` on its row
    while it is still pending, then `options` (not saved before). False, with nothing saved, once it is no
    longer pending (stopped meanwhile)."""
    if fields:
        fields["updated_at"] = timezone.now()
        if Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).update(**fields) == 0:
            return False
    if options:
        Option.objects.bulk_create(options)
    return True


class ReplyRecorder(ReplySink):
    """Receives the reply from the recommender: keeps its text and options, passes them on as events, saves them.

    It saves through save(): the options not yet saved, and the text so far when it is due (every
    SAVE_EVERY_SECONDS, the first time that long after its first words). It saves when the text is due and, when
    someone listens, before it shows an option (a click on it must find it). What is still unsaved at the end
    (take_unsaved) is saved with the end, in its transaction: an answer whose words all come sooner is saved
    once, and a reply nobody listens to saves its options then, when they can first be seen.
    """

    def __init__(self, reply: Message, events: asyncio.Queue | None):
        self.reply = reply
        self.events = events
        self.text_so_far = ""
        self.options: list[Option] = []
        # Set once the reply was stopped: its writer leaves the recommender and keeps what it has.
        self.stopped = False
        self._text_saved = ""
        self._unsaved: list[Option] = []
        # When the row was last written (text or heartbeat).
        self._saved_at = time.monotonic()

    def publish(self, name: str, payload) -> None:
        if self.events is not None:
            self.events.put_nowait((name, payload))

    async def text(self, delta: str) -> None:
        if not self.text_so_far:
            self._saved_at = time.monotonic()
        self.text_so_far += delta
        self.publish("delta", delta)
        if self._text_due():
            await self.save()

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
        self.options.append(option)
        self._unsaved.append(option)
        if self.events is not None:
            await self.save()
        self.publish("option", option)

    def _text_due(self) -> bool:
        return self.text_so_far != self._text_saved and time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS

    async def save(self) -> None:
        """Save the options not yet saved and, when due, the text so far. A reply that is no longer pending (the
        person stopped it) saves nothing more: the recommender is left at once, as a cancellation is."""
        fields = {"content_text": self.text_so_far} if self._text_due() else {}
        options, self._unsaved = self._unsaved, []
        if not fields and not options:
            return
        if fields:
            self._text_saved, self._saved_at = self.text_so_far, time.monotonic()
        if not await sync_to_async(_reply_save)(reply=self.reply, options=options, **fields):
            self.stopped = True
            raise asyncio.CancelledError

    def take_unsaved(self) -> list[Option]:
        """The options not saved yet, for the reply's end to save; they count as saved from now on."""
        options, self._unsaved = self._unsaved, []
        return options

    async def watch(self, writer: asyncio.Task) -> None:
        """Look every STOP_CHECK_SECONDS whether the reply was stopped, touching its row when nothing was saved for
        HEARTBEAT_SECONDS (see Message.is_stale); cancel the writer once it was."""
        while True:
            await asyncio.sleep(STOP_CHECK_SECONDS)
            if time.monotonic() - self._saved_at >= HEARTBEAT_SECONDS:
                self._saved_at = time.monotonic()
                pending = Message.objects.filter(pk=self.reply.pk, status=Message.Status.PENDING)
                still = await pending.aupdate(updated_at=timezone.now()) > 0
            else:
                still = await selectors.reply_still_pending(reply_id=self.reply.pk)
            if not still:
                self.stopped = True
                writer.cancel()
                return


def _finish(*, reply: Message, content_text: str, options: list[Option], unsaved: list[Option], recommender: str):
    """End the reply complete, with its options; `unsaved` are those of them not yet saved."""
    fields = {
        "content_text": content_text,
        "render_payload": render_payload_build(options=options),
        "recommender": recommender,
        "status": Message.Status.COMPLETE,
        "error": "",
    }
    with transaction.atomic():
        ended = _reply_save(reply=reply, options=unsaved, **fields)
    if not ended:
        return _stopped(reply=reply, content_text=content_text)
    # The row is this writer's alone while pending: the instance takes the values without reading them back.
    for name, value in fields.items():
        setattr(reply, name, value)
    return reply


def _fail(*, reply: Message, reason: str, options: list[Option]) -> Message:
    with transaction.atomic():
        ended = _reply_save(
            reply=reply,
            options=[],
            status=Message.Status.FAILED,
            error=reason,
            content_text=reason,
            render_payload=None,
        )
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


async def _write(*, recorder: ReplyRecorder, user_message: Message, reads: tuple, turn: _Turn) -> Message:
    """Compose the reply to `user_message` into the recorder's reply; ends complete, failed or stopped, never
    pending. The post's turn is given back when the model's call goes out (or the recommender ends)."""
    reply = recorder.reply
    watcher = asyncio.create_task(recorder.watch(asyncio.current_task()))
    try:
        history, grounding = reads
        composed = await reply_compose(
            text=user_message.content_text or "",
            history=history,
            sink=recorder,
            grounding=grounding,
            on_call=turn.release,
        )
    except asyncio.CancelledError:
        if not recorder.stopped:
            raise
        # The watcher must not cancel the writer again while the stopped reply is saved.
        watcher.cancel()
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
        watcher.cancel()
        turn.release()
    reply = await sync_to_async(_finish)(
        reply=reply,
        content_text=composed.content_text,
        options=recorder.options,
        unsaved=recorder.take_unsaved(),
        recommender=composed.recommender,
    )
    recorder.publish("done", reply)
    return reply


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
