"""The conversation's controls: stop a reply while it is written, edit and resend the last message, and
search one's chats. Thin views over chats.services and chats.search, like chats.chat_views: an htmx request
gets the fragment, any other request a page (or a redirect to one).
"""

from functools import partial
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from . import pages, replies, search, selectors, services
from .errors import ServiceError


def _stopped_page(request, reply):
    if not request.htmx:
        return redirect(reverse("chat_detail", args=[reply.chat_id]) + f"#message-{reply.pk}")
    pages.messages_decorate(request.user, reply.chat_id, [reply])
    return render(request, "chats/chat.html#message", {"message": reply})


@login_required
@require_POST
async def reply_stop(request, message_id):
    """Stop the reply being written; it keeps its text so far. A reply that has ended is shown as it is."""
    user = await request.auser()
    reply = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    reply, stopped = await sync_to_async(services.reply_stop)(reply=reply)
    if stopped:
        reply = await replies.reply_stopped_wait(reply=reply)
    return await sync_to_async(_stopped_page)(request, reply)


def _edit_refused(request, message, text: str, error: str):
    if request.htmx:
        response = render(request, "chats/chat.html#edit_error", {"edit_error": error}, status=422)
        return reswap(retarget(response, f"#edit-error-{message.pk}"), "innerHTML")
    # Without scripts: the chat again, the edit open with the words as sent and the reason beside them.
    return pages.chat_page(request, message.chat, status=422, editing=message.pk, edit_text=text, edit_error=error)


def _edited_page(request, edited, user_message, reply):
    chat = edited.chat
    chat.refresh_from_db()
    context = {
        "chat": chat,
        "chats": pages.sidebar_chats(request.user),
        "edited_message": edited,
        "user_message": user_message,
        "reply": reply,
        # Replaced in place (the reply is written anew), or the edited words posted as a new message.
        "replaced": user_message.pk == edited.pk,
        # The last message now is the one just sent, and its reply has no results: an edit would replace it.
        "edit_keeps_turn": False,
    }
    return render(request, "chats/chat.html#edited", context)


@login_required
@require_POST
async def message_edit(request, message_id):
    """Send the last message again as edited: its reply is written anew, or, when that turn has results,
    the edited text goes as a new message and the turn stays."""
    user = await request.auser()
    message = await sync_to_async(selectors.message_get)(user=user, message_id=message_id)
    text = request.POST.get("text", "")
    begin = partial(services.message_edit_begin, message=message, text=text)
    try:
        posted = await replies.reply_post(begin=begin, listener=replies.Listener.PAGE)
    except ServiceError as exc:
        return await sync_to_async(_edit_refused)(request, message, text, str(exc))
    if not request.htmx:
        return redirect(reverse("chat_detail", args=[message.chat_id]) + f"#message-{posted.user_message.pk}")
    return await sync_to_async(_edited_page)(request, message, posted.user_message, posted.reply)


def _current_chat_id(request):
    """The chat the page that asked shows, to mark it in the list."""
    if not request.htmx or not request.htmx.current_url:
        return None
    try:
        match = resolve(urlsplit(request.htmx.current_url).path)
    except Resolver404:
        return None
    return match.kwargs.get("chat_id") if match.url_name == "chat_detail" else None


@login_required
@require_GET
def chat_search(request):
    """The person's chats matching the words, as the sidebar's list (htmx) or as a page."""
    query = search.search_query_clean(request.GET.get("q"))
    current = _current_chat_id(request)
    context = {"search_query": query, "current_chat_id": current}
    if request.htmx and not query:
        # Cleared: the sidebar's own list again.
        context |= {"chats": pages.sidebar_chats(request.user), "chat": {"id": current} if current else None}
        return render(request, "chats/_layout.html#chat_list", context)
    context["results"] = search.chat_search(user=request.user, query=query)
    if request.htmx:
        return render(request, "chats/search.html#chat_results", context)
    context["chats"] = pages.sidebar_chats(request.user)
    return render(request, "chats/search.html", context)
