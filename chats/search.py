"""Finding one's chats by words: in the title or in the text of their messages, newest first.

A plain case-insensitive match (icontains), the same on SQLite and PostgreSQL; each hit in a message
comes with a short excerpt around the first match, for the list to show with the match marked.
"""

import re
from dataclasses import dataclass

from django.db.models import Q

from .models import Chat, Message

QUERY_MAX_LENGTH = 200
RESULTS_MAX = 30
EXCERPT_AROUND = 40  # characters shown before and after the match
# Failed replies' text is an error message, and system messages are not the conversation's words.
SEARCHED_AUTHORS = [Message.Author.USER, Message.Author.ASSISTANT]


@dataclass(frozen=True)
class Excerpt:
    before: str
    match: str
    after: str


@dataclass(frozen=True)
class ChatMatch:
    chat: Chat
    excerpt: Excerpt | None  # None when the title matched and no message needs showing


def search_query_clean(query: str | None) -> str:
    return " ".join((query or "").split())[:QUERY_MAX_LENGTH]


def excerpt_find(text: str, query: str) -> Excerpt | None:
    """The words around the first match of `query` in `text` (case-insensitive), on one line."""
    text = " ".join(text.split())
    found = re.search(re.escape(query), text, re.IGNORECASE)
    if found is None:
        return None
    start, end = found.span()
    before = text[max(0, start - EXCERPT_AROUND) : start]
    after = text[end : end + EXCERPT_AROUND]
    if start > EXCERPT_AROUND:
        before = "…" + before.split(" ", 1)[-1] if " " in before else "…" + before
    if end + EXCERPT_AROUND < len(text):
        after = after.rsplit(" ", 1)[0] + "…" if " " in after else after + "…"
    return Excerpt(before=before, match=text[start:end], after=after)


def chat_search(*, user, query: str, limit: int = RESULTS_MAX) -> list[ChatMatch]:
    """The user's chats whose title or message text contains `query`, most recently active first.

    Two queries: the chats, then the newest matching message of those whose title does not match (for
    its excerpt). The newest matching message of a chat may be long: only the excerpt is shown.
    """
    query = search_query_clean(query)
    if not query:
        return []
    texts = Message.objects.filter(
        chat__owner=user, content_text__icontains=query, author_type__in=SEARCHED_AUTHORS
    ).exclude(status=Message.Status.FAILED)
    chats = list(
        Chat.objects.filter(owner=user)
        .filter(Q(title__icontains=query) | Q(pk__in=texts.values("chat_id")))
        .order_by("-last_activity_at", "-id")[:limit]
    )
    untitled = [chat.pk for chat in chats if query.casefold() not in chat.title.casefold()]
    newest: dict = {}
    if untitled:
        rows = (
            texts.filter(chat_id__in=untitled).order_by("chat_id", "-position").values_list("chat_id", "content_text")
        )
        for chat_id, text in rows:
            newest.setdefault(chat_id, text)
    return [ChatMatch(chat=chat, excerpt=excerpt_find(newest.get(chat.pk, ""), query)) for chat in chats]
