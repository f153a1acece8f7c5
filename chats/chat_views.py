"""The chat pages: thin views that read through selectors and write through services, like the JSON API.

Every page template holds its fragments as `{% partialdef %}` blocks; an htmx request gets the
fragment ("chats/chat.html#message"), any other request the whole page. Replies start through
chats.replies.reply_post and stream as server-sent events of HTML for the htmx SSE extension.
What the page families share (the sidebar, the chat page, the cards' data) is in chats.pages.
"""

import asyncio
from functools import partial

from asgiref.sync import sync_to_async
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import conditional_escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from . import pages, replies, selectors, services, streams
from .errors import ServiceError
from .forms import MessageForm, RenameForm
from .models import Message
from .option_cards import CardReads

POLL_SECONDS = 0.5


def _composer_error(request, message: str, status: int = 422):
    response = render(request, "chats/chat.html#composer_error", {"error": message}, status=status)
    return reswap(retarget(response, "#composer-error"), "innerHTML")


@login_required
@require_GET
def home(request):
    chats = pages.sidebar_chats(request.user)
    if chats:
        return redirect("chat_detail", chat_id=chats[0].pk)
    return pages.chat_page(request, None)


@login_required
@require_GET
def chat_new(request):
    return pages.chat_page(request, None)


@login_required
@require_GET
def chat_detail(request, chat_id):
    return pages.chat_page(request, selectors.chat_get(user=request.user, chat_id=chat_id))


@login_required
@require_POST
async def chat_start(request):
    """The first message of a new chat: the chat is made, the reply starts, the chat's page shows it."""
    form = MessageForm(request.POST)
    if not form.is_valid():
        return await sync_to_async(_composer_error)(request, form.error_text())
    user = await request.auser()
    begin = partial(services.chat_start, owner=user, **form.post_arguments())
    try:
        posted = await replies.reply_post(begin=begin, listener=replies.Listener.PAGE)
    except ServiceError as exc:
        return await sync_to_async(_composer_error)(request, str(exc))
    url = reverse("chat_detail", args=[posted.reply.chat_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def chat_rename(request, chat_id):
    chat = selectors.chat_get(user=request.user, chat_id=chat_id)
    form = RenameForm(request.POST or None, initial={"title": chat.title})
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.chat_rename(chat=chat, title=form.cleaned_data["title"])
        except ServiceError as exc:
            error = str(exc)
        else:
            if not request.htmx:
                return redirect("chat_detail", chat_id=chat.pk)
            context = {"chat": chat, "chats": pages.sidebar_chats(request.user), "sidebar_oob": True}
            return render(request, "chats/chat.html#chat_header", context)
    context = {"chat": chat, "form": form, "error": error, "chats": pages.sidebar_chats(request.user)}
    return pages.page_render(request, "chats/chat_rename.html", "rename_form", context, status=422 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def chat_delete(request, chat_id):
    chat = selectors.chat_get(user=request.user, chat_id=chat_id)
    if request.method == "GET":
        return render(request, "chats/chat_delete.html", {"chat": chat, "chats": pages.sidebar_chats(request.user)})
    services.chat_delete(chat=chat)
    flash.success(request, f"“{chat.title}” was deleted.")
    url = reverse("home")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
async def message_create(request, chat_id):
    user = await request.auser()
    chat = await sync_to_async(selectors.chat_get)(user=user, chat_id=chat_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return await sync_to_async(_composer_error)(request, form.error_text())
    begin = partial(services.message_post_begin, chat=chat, **form.post_arguments())
    try:
        posted = await replies.reply_post(begin=begin, listener=replies.Listener.PAGE)
    except ServiceError as exc:
        return await sync_to_async(_composer_error)(request, str(exc))
    if not request.htmx:
        return redirect("chat_detail", chat_id=chat.pk)
    context = await sync_to_async(pages.posted_context)(user, chat, posted.user_message, posted.reply)
    return await sync_to_async(render)(request, "chats/chat.html#posted", context)


@login_required
@require_POST
async def reply_retry(request, message_id):
    user = await request.auser()
    reply = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    try:
        posted = await replies.reply_post(
            begin=partial(services.reply_retry_begin, reply=reply), listener=replies.Listener.PAGE
        )
    except ServiceError as exc:
        return HttpResponseBadRequest(conditional_escape(str(exc)))
    if not request.htmx:
        return redirect("chat_detail", chat_id=posted.reply.chat_id)
    return await sync_to_async(render)(request, "chats/chat.html#message", {"message": posted.reply})


# --- The reply as it is written ---


async def _live_events(events: asyncio.Queue):
    text, options = "", []
    async for name, payload in streams.events_kept_alive(events):
        if name == "keepalive":
            yield name, None
        elif name == "delta":
            text += payload
            yield "text", text
        elif name == "option":
            options.append(payload)
            yield "options", list(options)
        else:
            yield "end", payload
            return


async def _saved_events(reply: Message):
    """The reply as it is saved, for a stream that did not start it (a reload, another process)."""
    text, count = None, -1
    while True:
        message = await Message.objects.aget(pk=reply.pk)
        if message.display_status != Message.Status.PENDING:
            yield "end", message
            return
        if message.content_text != text:
            text = message.content_text
            yield "text", text or ""
        options = await sync_to_async(selectors.option_list)(message=message)
        if len(options) != count:
            count = len(options)
            yield "options", options
        await asyncio.sleep(POLL_SECONDS)


def _render_event(request, reads: CardReads, name: str, payload) -> str:
    if name == "text":
        return streams.sse_event("text", str(conditional_escape(payload)))
    if name == "options":
        prefetch_related_objects(payload, "style", "motion")
        pages.options_decorate(reads, payload)
        html = render_to_string("chats/chat.html#options", {"options": payload}, request=request)
        return streams.sse_event("options", html)
    message = Message.objects.get(pk=payload.pk)
    pages.messages_decorate(request.user, message.chat_id, [message], reads=reads)
    return streams.sse_event("end", render_to_string("chats/chat.html#message", {"message": message}, request=request))


async def _reply_stream(request, reply: Message):
    events = replies.reply_events_take(reply_id=reply.pk)
    source = _live_events(events) if events is not None else _saved_events(reply)
    # The models, prices and balance the stream's cards show, read once for the whole stream.
    reads = CardReads(request.user)
    async for name, payload in source:
        if name == "keepalive":
            yield streams.KEEPALIVE
        else:
            yield await sync_to_async(_render_event)(request, reads, name, payload)


@login_required
@require_GET
async def reply_stream(request, message_id):
    """The reply as server-sent events of HTML: `text` (the prose so far), `options` (the cards so far), `end`."""
    user = await request.auser()
    reply = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    return streams.event_stream_response(_reply_stream(request, reply))
