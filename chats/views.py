"""The browser pages: thin views that read through selectors and write through services, like the JSON API.

Every page template holds its fragments as `{% partialdef %}` blocks; an htmx request gets the
fragment ("chats/chat.html#message"), any other request the whole page. Replies stream as
server-sent events of HTML for the htmx SSE extension.
"""

import asyncio
import logging
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils.html import conditional_escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from generation import selectors as generation_selectors
from generation import services as generation_services
from generation.models import Generation
from higgs_project.apikit.auth import session_user_id
from higgs_project.apikit.inputs import absolute_url

from . import replies, selectors, services
from .errors import ServiceError
from .forms import GenerateForm, LoginForm, MessageForm, RenameForm, SignupForm
from .models import Message

logger = logging.getLogger(__name__)

SIDEBAR_CHATS = 50
MESSAGES_SHOWN = 300
KEEPALIVE_SECONDS = 15
POLL_SECONDS = 0.5

# Replies this process is writing, by id: the first stream that asks takes the live events;
# any later one (a reload, another process) follows the saved reply instead.
_live: dict = {}


# --- Helpers ---


def _page(request, template: str, partial: str, context: dict, status: int = 200):
    name = f"{template}#{partial}" if request.htmx else template
    return render(request, name, context, status=status)


def _sidebar(user) -> list:
    return selectors.chat_list(user=user, limit=SIDEBAR_CHATS).items


def _generations_by_option(user, chat_id) -> dict:
    """The chat's generations per option, newest first, leaving out attempts that were retried."""
    items = generation_selectors.generation_list(user=user, chat_id=chat_id, limit=settings.API_PAGE_MAX_LIMIT).items
    retried = {g.retry_of_id for g in items if g.retry_of_id}
    by_option: dict = {}
    for generation in items:
        if generation.pk not in retried and generation.option_id:
            by_option.setdefault(generation.option_id, []).append(generation)
    return by_option


def _decorate(user, chat_id, message_list: list[Message]) -> list[Message]:
    """Give each assistant message its options, and each option its generations, for the templates."""
    prefetch_related_objects(message_list, "options__style", "options__motion")
    by_option = _generations_by_option(user, chat_id)
    for message in message_list:
        for option in message.options.all():
            option.generations_shown = by_option.get(option.pk, [])
            option.generate_form = GenerateForm(option=option)
    return message_list


def _messages(user, chat) -> list[Message]:
    items, after = [], None
    while len(items) < MESSAGES_SHOWN:
        page = selectors.message_list(chat=chat, limit=settings.API_PAGE_MAX_LIMIT, after=after)
        items += page.items
        if not page.has_more:
            break
        after = page.next_cursor
    return _decorate(user, chat.pk, items)


def _launch(*, reply: Message, user_message: Message, turn: replies.StartTurn | None = None, context=None) -> None:
    task, events = replies.reply_launch(reply=reply, user_message=user_message, turn=turn, context=context)
    _live[reply.pk] = events
    # Nobody came for the events (no browser, or it left): forget them a while after the reply ends.
    task.add_done_callback(lambda t: t.get_loop().call_later(60, _live.pop, reply.pk, None))


def _composer_error(request, message: str, status: int = 422):
    response = render(request, "chats/chat.html#composer_error", {"error": message}, status=status)
    return reswap(retarget(response, "#composer-error"), "innerHTML")


# --- The chat ---


@login_required
@require_GET
def home(request):
    chats = _sidebar(request.user)
    if chats:
        return redirect("chat_detail", chat_id=chats[0].pk)
    return render(request, "chats/chat.html", {"chats": chats, "chat": None})


@login_required
@require_GET
def chat_new(request):
    return render(request, "chats/chat.html", {"chats": _sidebar(request.user), "chat": None})


@login_required
@require_GET
def chat_detail(request, chat_id):
    chat = selectors.chat_get(user=request.user, chat_id=chat_id)
    context = {"chats": _sidebar(request.user), "chat": chat, "messages_shown": _messages(request.user, chat)}
    return render(request, "chats/chat.html", context)


@login_required
@require_POST
async def chat_start(request):
    """The first message of a new chat: the chat is made, the reply starts, the chat's page shows it."""
    form = MessageForm(request.POST)
    if not form.is_valid():
        return await sync_to_async(_composer_error)(request, form.error_text())
    user = await request.auser()
    chat = await sync_to_async(services.chat_create)(owner=user)
    async with replies.reply_start() as turn:
        try:
            user_message, reply, reads = await sync_to_async(services.message_post_begin_with_reads)(
                chat=chat, **form.post_arguments()
            )
        except ServiceError as exc:
            await sync_to_async(services.chat_delete)(chat=chat)
            return await sync_to_async(_composer_error)(request, str(exc))
        _launch(reply=reply, user_message=user_message, turn=turn, context=reads)
    url = reverse("chat_detail", args=[chat.pk])
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
            context = {"chat": chat, "chats": _sidebar(request.user), "sidebar_oob": True}
            return render(request, "chats/chat.html#chat_header", context)
    context = {"chat": chat, "form": form, "error": error, "chats": _sidebar(request.user)}
    return _page(request, "chats/chat_rename.html", "rename_form", context, status=422 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def chat_delete(request, chat_id):
    chat = selectors.chat_get(user=request.user, chat_id=chat_id)
    if request.method == "GET":
        return render(request, "chats/chat_delete.html", {"chat": chat, "chats": _sidebar(request.user)})
    services.chat_delete(chat=chat)
    flash.success(request, f"“{chat.title}” was deleted.")
    url = reverse("home")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _posted_context(user, chat, user_message, reply) -> dict:
    chat.refresh_from_db()
    return {"chat": chat, "chats": _sidebar(user), "messages_shown": [user_message, reply]}


@login_required
@require_POST
async def message_create(request, chat_id):
    user = await request.auser()
    chat = await sync_to_async(selectors.chat_get)(user=user, chat_id=chat_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return await sync_to_async(_composer_error)(request, form.error_text())
    async with replies.reply_start() as turn:
        try:
            user_message, reply, reads = await sync_to_async(services.message_post_begin_with_reads)(
                chat=chat, **form.post_arguments()
            )
        except ServiceError as exc:
            return await sync_to_async(_composer_error)(request, str(exc))
        _launch(reply=reply, user_message=user_message, turn=turn, context=reads)
    if not request.htmx:
        return redirect("chat_detail", chat_id=chat.pk)
    context = await sync_to_async(_posted_context)(user, chat, user_message, reply)
    return await sync_to_async(render)(request, "chats/chat.html#posted", context)


@login_required
@require_POST
async def reply_retry(request, message_id):
    user = await request.auser()
    reply = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    async with replies.reply_start() as turn:
        try:
            user_message, reply = await sync_to_async(services.reply_retry_begin)(reply=reply)
        except ServiceError as exc:
            return HttpResponseBadRequest(conditional_escape(str(exc)))
        _launch(reply=reply, user_message=user_message, turn=turn)
    if not request.htmx:
        return redirect("chat_detail", chat_id=reply.chat_id)
    return await sync_to_async(render)(request, "chats/chat.html#message", {"message": reply})


# --- The reply as it is written ---


def _sse(event: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in (html.splitlines() or [""]))
    return f"event: {event}\n{data}\n"


async def _live_events(events: asyncio.Queue):
    text, options = "", []
    while True:
        try:
            name, payload = await asyncio.wait_for(events.get(), timeout=KEEPALIVE_SECONDS)
        except TimeoutError:
            yield "keepalive", None
            continue
        if name == "delta":
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


def _render_event(request, name: str, payload) -> str:
    if name == "text":
        return _sse("text", str(conditional_escape(payload)))
    if name == "options":
        prefetch_related_objects(payload, "style", "motion")
        for option in payload:
            option.generations_shown, option.generate_form = [], GenerateForm(option=option)
        return _sse("options", render_to_string("chats/chat.html#options", {"options": payload}, request=request))
    message = Message.objects.get(pk=payload.pk)
    _decorate(request.user, message.chat_id, [message])
    return _sse("end", render_to_string("chats/chat.html#message", {"message": message}, request=request))


async def _reply_stream(request, reply: Message):
    events = _live.pop(reply.pk, None)
    source = _live_events(events) if events is not None else _saved_events(reply)
    async for name, payload in source:
        if name == "keepalive":
            yield ": keep-alive\n\n"
        else:
            yield await sync_to_async(_render_event)(request, name, payload)


@login_required
@require_GET
async def reply_stream(request, message_id):
    """The reply as server-sent events of HTML: `text` (the prose so far), `options` (the cards so far), `end`."""
    user = await request.auser()
    reply = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    response = StreamingHttpResponse(_reply_stream(request, reply), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- Generations ---


def _generation_page(request, generation: Generation, status: int = 200, error: str = "", charged: bool = False):
    if request.htmx:
        # A new attempt was charged, an ended job may have been refunded: the sidebar's balance comes along.
        context = {"generation": generation, "error": error, "balance_changed": charged or generation.is_final}
        return render(request, "chats/chat.html#generation", context, status=status)
    context = {"generation": generation, "error": error, "chats": _sidebar(request.user)}
    return render(request, "chats/generation.html", context, status=status)


@login_required
@require_POST
def option_generate(request, option_id):
    option = selectors.option_get(user=request.user, option_id=option_id)
    form = GenerateForm(request.POST, option=option)
    try:
        if not form.is_valid():
            raise generation_services.GenerationError(form.refusal())
        generation, created = generation_services.generation_request(
            owner=request.user,
            option=option,
            kind=option.kind,
            model_key=form.model_key(),
            prompt=form.prompt_text(),
            parameters=form.parameters(),
            absolute_url=lambda url: absolute_url(request, url),
        )
    except generation_services.GenerationError as exc:
        response = render(request, "chats/chat.html#option_error", {"error": str(exc)}, status=422)
        return reswap(retarget(response, f"#option-error-{option.pk}"), "innerHTML")
    if not request.htmx:
        return redirect(reverse("chat_detail", args=[option.message.chat_id]) + f"#option-{option.pk}")
    if not created:
        # The same request is one job: say where it is rather than show its card twice.
        response = render(request, "chats/chat.html#option_twin", {"generation": generation})
        return reswap(retarget(response, f"#option-error-{option.pk}"), "innerHTML")
    # Charged: the sidebar's balance is sent along to be swapped in.
    return render(request, "chats/chat.html#generation", {"generation": generation, "balance_changed": True})


@require_GET
async def generation_detail(request, generation_id):
    seen = request.GET.get("seen")
    if seen and request.htmx:
        # A running card's poll: while nothing it shows has changed, "no change" (htmx swaps nothing) after one
        # small query, instead of the card drawn again. Its clock counts on in the page (app.js). Anything else
        # (signed out, someone else's job, a change) is the card, as below.
        user_id = await session_user_id(request)
        if user_id is not None:
            state = await generation_selectors.generation_poll_state(user_id=user_id, generation_id=generation_id)
            if state == seen:
                return HttpResponse(status=204)
    return await sync_to_async(_generation_card)(request, generation_id)


@login_required
def _generation_card(request, generation_id):
    return _generation_page(
        request, generation_selectors.generation_get(user=request.user, generation_id=generation_id)
    )


@login_required
@require_POST
def generation_cancel(request, generation_id):
    generation = generation_selectors.generation_get(user=request.user, generation_id=generation_id)
    try:
        generation = generation_services.generation_cancel(generation=generation)
    except generation_services.GenerationError as exc:
        generation.refresh_from_db()
        return _generation_page(request, generation, error=str(exc))
    return _generation_page(request, generation)


@login_required
@require_POST
def generation_retry(request, generation_id):
    generation = generation_selectors.generation_get(user=request.user, generation_id=generation_id)
    try:
        generation = generation_services.generation_retry(generation=generation)
    except generation_services.GenerationError as exc:
        return _generation_page(request, generation, error=str(exc))
    return _generation_page(request, generation, charged=True)


@login_required
@require_POST
def generation_take(request, generation_id):
    """'Another take' on a finished card: a new job (a new seed, a new charge) shown above it."""
    generation = generation_selectors.generation_get(user=request.user, generation_id=generation_id)
    try:
        take, created = generation_services.generation_another_take(generation=generation)
    except generation_services.GenerationError as exc:
        response = _generation_page(request, generation, error=str(exc))
        return reswap(retarget(response, f"#generation-{generation.pk}"), "outerHTML") if request.htmx else response
    if not request.htmx:
        return redirect("generation_detail", generation_id=take.pk)
    if not created:
        # A second click of the same take: its card is already there, refreshed in place.
        response = _generation_page(request, take)
        return reswap(retarget(response, f"#generation-{take.pk}"), "outerHTML")
    return _generation_page(request, take, charged=True)


def _animate_begin(user, generation_id):
    generation = generation_selectors.generation_get(user=user, generation_id=generation_id)
    result = generation.result
    if generation.status != Generation.Status.COMPLETED or result is None or result.kind != "image":
        raise Http404("Only a finished image can be animated.")
    chat = selectors.chat_get(user=user, chat_id=generation.chat_id) if generation.chat_id else None
    chat = chat or services.chat_create(owner=user, title="Animations")
    text = "Animate this image: " + " ".join(generation.prompt.split()[:40])
    return services.message_post_begin(chat=chat, text=text, attachment_urls=[result.file.url])


@login_required
@require_POST
async def generation_animate(request, generation_id):
    """'Animate this image': the result goes back into its chat as an image, and image-to-video options answer."""
    user = await request.auser()
    async with replies.reply_start() as turn:
        try:
            user_message, reply = await sync_to_async(_animate_begin)(user, generation_id)
        except ServiceError as exc:
            return HttpResponseBadRequest(conditional_escape(str(exc)))
        _launch(reply=reply, user_message=user_message, turn=turn)
    url = reverse("chat_detail", args=[reply.chat_id])
    if request.htmx and urlsplit(request.htmx.current_url or "").path == url:
        # Clicked in this chat's page: the new turn joins the conversation at once, as a sent message does.
        chat = await sync_to_async(selectors.chat_get)(user=user, chat_id=reply.chat_id)
        context = await sync_to_async(_posted_context)(user, chat, user_message, reply)
        response = await sync_to_async(render)(request, "chats/chat.html#posted", context)
        return reswap(retarget(response, "#messages"), "beforeend")
    url += f"#message-{reply.pk}"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- Accounts ---


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, "Welcome to Higgs. Describe an image or a video you would like to make.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        flash.success(self.request, "Your password was changed.")
        return super().form_valid(form)
