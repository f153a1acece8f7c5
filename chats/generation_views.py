"""The generation pages: Generate on an option card, a generation's card (and its poll), cancel, retry, another
take, and "Animate this image", whose new turn starts its reply through chats.replies.reply_post. An htmx request
gets the card's fragment ("chats/chat.html#generation"), any other request the generation's page.
"""

from functools import partial
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import conditional_escape
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from generation import selectors as generation_selectors
from generation import services as generation_services
from generation.models import Generation
from higgs_project.apikit.auth import session_user_id
from higgs_project.apikit.inputs import absolute_url

from . import pages, replies, selectors, services
from .errors import ServiceError
from .forms import GenerateForm
from .option_cards import CardReads


def _generation_page(request, generation: Generation, status: int = 200, error: str = "", charged: bool = False):
    pages.generations_decorate(CardReads(request.user), [generation])
    if request.htmx:
        # A new attempt was charged, an ended job may have been refunded: the sidebar's balance comes along.
        context = {"generation": generation, "error": error, "balance_changed": charged or generation.is_final}
        return render(request, "chats/chat.html#generation", context, status=status)
    context = {"generation": generation, "error": error, "chats": pages.sidebar_chats(request.user)}
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
    return _generation_page(request, generation, charged=True)


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
    text = "Animate this image: " + " ".join(generation.prompt.split()[:40])
    if generation.chat_id is None:
        return services.chat_start(owner=user, title="Animations", text=text, attachment_urls=[result.file.url])
    chat = selectors.chat_get(user=user, chat_id=generation.chat_id)
    return services.message_post_begin(chat=chat, text=text, attachment_urls=[result.file.url])


@login_required
@require_POST
async def generation_animate(request, generation_id):
    """'Animate this image': the result goes back into its chat as an image, and image-to-video options answer."""
    user = await request.auser()
    try:
        posted = await replies.reply_post(
            begin=partial(_animate_begin, user, generation_id), listener=replies.Listener.PAGE
        )
    except ServiceError as exc:
        return HttpResponseBadRequest(conditional_escape(str(exc)))
    user_message, reply = posted.user_message, posted.reply
    url = reverse("chat_detail", args=[reply.chat_id])
    if request.htmx and urlsplit(request.htmx.current_url or "").path == url:
        # Clicked in this chat's page: the new turn joins the conversation at once, as a sent message does.
        chat = await sync_to_async(selectors.chat_get)(user=user, chat_id=reply.chat_id)
        context = await sync_to_async(pages.posted_context)(user, chat, user_message, reply)
        response = await sync_to_async(render)(request, "chats/chat.html#posted", context)
        return reswap(retarget(response, "#messages"), "beforeend")
    url += f"#message-{reply.pk}"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
