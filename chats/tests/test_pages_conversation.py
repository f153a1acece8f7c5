"""The conversation's controls: stopping a reply, editing the last message, searching one's chats.

A slow reply comes from the fake Claude on loopback, streaming its words with a pause between them.
"""

import asyncio
from datetime import timedelta
from functools import partial

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient, Client
from django.utils import timezone

from bench.fake_model import answer
from chats import replies, search, services
from chats.models import Message, Option, ReplyRetry
from generation.models import Generation
from recommender.tests.fake_anthropic import reply, text

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "a cinematic sunset over mountains"
HX = {"HX-Request": "true"}
LONG = " ".join(f"word{n}" for n in range(300))


@pytest.fixture
def claude(claude, settings):
    """The fake Claude, without retries and with time for a slow reply."""
    settings.ANTHROPIC_MAX_RETRIES = 0
    settings.ANTHROPIC_TIMEOUT = 20
    return claude


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Sunsets")


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def async_client_for(user):
    client = AsyncClient()
    client.force_login(user)
    return client


def answered(chat, claude, words=TEXT):
    claude.script(answer)
    return services.message_post(chat=chat, text=words)


def write_slowly_and(chat, claude, then):
    """Post a message whose reply streams slowly; once some of it is saved, run `then(reply)` (async), and
    return what it returned and the reply as it ended."""
    claude.script(reply(text(LONG), chunk_delay=0.05))

    async def run():
        posted = await replies.reply_post(begin=partial(services.message_post_begin, chat=chat, text=TEXT))
        pending, writer = posted.reply, posted.task
        for _ in range(200):
            saved = await Message.objects.aget(pk=pending.pk)
            if saved.content_text:
                break
            await asyncio.sleep(0.05)
        returned = await then(pending)
        ended = await asyncio.wait_for(writer, timeout=10)
        return returned, ended

    return async_to_sync(run)()


# --- Stop ---


def test_a_stopped_reply_keeps_the_text_so_far_says_stopped_and_has_no_options(alice, chat, claude):
    client = async_client_for(alice)

    async def stop(pending):
        return await client.post(f"/messages/{pending.id}/stop/", headers=HX)

    response, ended = write_slowly_and(chat, claude, stop)
    assert response.status_code == 200
    assert ended.status == Message.Status.STOPPED
    assert ended.content_text and LONG.startswith(ended.content_text)
    assert len(ended.content_text) < len(LONG)
    assert not Option.objects.filter(message=ended).exists()
    html = response.content.decode()
    assert "Stopped." in html
    assert ended.content_text in html
    assert "sse-connect" not in html and "Stop</button>" not in html
    # The chat page says the same after a reload, and the person can post again at once.
    page = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert "Stopped." in page
    claude.script(answer)
    services.message_post(chat=chat, text="a lighthouse in a storm")
    assert Message.objects.filter(chat=chat).order_by("-position").first().status == Message.Status.COMPLETE


def test_a_stop_from_another_process_reaches_the_writer_through_the_database(alice, chat, claude):
    """Only the row changes (as a stop handled by another web process does); the writer sees it and stops."""

    async def stop(pending):
        return await sync_to_async(services.reply_stop)(reply=pending)

    (stopped_reply, stopped_now), ended = write_slowly_and(chat, claude, stop)
    assert stopped_now
    assert ended.status == Message.Status.STOPPED
    assert len(ended.content_text) < len(LONG)


def test_stopping_a_reply_that_has_ended_changes_nothing(alice, chat, claude):
    done = answered(chat, claude)
    options = list(Option.objects.filter(message=done).values_list("pk", flat=True))
    response = client_for(alice).post(f"/messages/{done.id}/stop/", headers=HX)
    assert response.status_code == 200
    done.refresh_from_db()
    assert done.status == Message.Status.COMPLETE
    assert list(Option.objects.filter(message=done).values_list("pk", flat=True)) == options
    assert "Stopped." not in response.content.decode()


def test_only_the_owner_can_stop_a_reply(alice, bob, chat):
    user_message, pending = services.message_post_begin(chat=chat, text=TEXT)
    response = client_for(bob).post(f"/messages/{pending.id}/stop/", headers=HX)
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == Message.Status.PENDING
    assert client_for(bob).get(f"/messages/{pending.id}/stop/").status_code in (404, 405)


def test_a_stop_keeps_an_option_already_generated_from_and_drops_the_others(alice, chat):
    user_message, pending = services.message_post_begin(chat=chat, text=TEXT)
    shown = [
        Option.objects.create(
            message=pending, position=n, kind="text_to_image", model_key="soul", enhanced_prompt="p", reason="r"
        )
        for n in range(2)
    ]
    paid = Generation.objects.create(
        owner=alice,
        option=shown[0],
        chat=chat,
        kind="text_to_image",
        model_key="soul",
        prompt="p",
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    stopped, now = services.reply_stop(reply=pending)
    assert now and stopped.status == Message.Status.STOPPED
    assert list(Option.objects.filter(message=pending)) == [shown[0]]
    assert Generation.objects.filter(pk=paid.pk).exists()
    assert [chunk["option_id"] for chunk in stopped.render_payload if chunk["type"] == "button"] == [str(shown[0].pk)]


def test_a_stop_without_scripts_goes_back_to_the_chat(alice, chat):
    user_message, pending = services.message_post_begin(chat=chat, text=TEXT)
    response = client_for(alice).post(f"/messages/{pending.id}/stop/")
    assert response.status_code == 302
    assert response["Location"] == f"/chats/{chat.id}/#message-{pending.id}"
    pending.refresh_from_db()
    assert pending.status == Message.Status.STOPPED


def test_a_pending_reply_offers_stop(alice, chat):
    services.message_post_begin(chat=chat, text=TEXT)
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert ">Stop</button>" in html


# --- Edit and resend ---


def edit(user, message, words, **headers):
    client = async_client_for(user)

    async def run():
        response = await client.post(f"/messages/{message.id}/edit/", {"text": words}, headers=headers)
        await replies.replies_wait()
        return response

    return async_to_sync(run)()


def test_the_last_message_can_be_edited_and_its_reply_is_written_anew(alice, chat, claude):
    first = answered(chat, claude)
    old_options = set(Option.objects.filter(message=first).values_list("pk", flat=True))
    user_message = Message.objects.get(chat=chat, author_type="user")
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert f'action="/messages/{user_message.id}/edit/"' in html
    assert f">{TEXT}</textarea>" in html  # the words, kept exactly

    claude.script(answer)
    response = edit(alice, user_message, "a neon city street in the rain", **HX)
    assert response.status_code == 200
    assert f'<div id="message-{first.id}" hx-swap-oob="delete">' in response.content.decode()
    messages = list(Message.objects.filter(chat=chat).order_by("position"))
    assert [m.content_text for m in messages][0] == "a neon city street in the rain"
    assert len(messages) == 2
    assert messages[1].status == Message.Status.COMPLETE
    assert "a neon city street in the rain" in messages[1].content_text
    assert not Option.objects.filter(pk__in=old_options).exists()
    chat.refresh_from_db()
    assert chat.message_count == 2
    assert chat.title == "Sunsets"  # a title of the person's own stays


def test_a_title_made_from_the_first_message_follows_its_edit(alice, seed_catalogue, claude):
    chat = services.chat_create(owner=alice)
    answered(chat, claude)
    user_message = Message.objects.get(chat=chat, author_type="user")
    claude.script(answer)
    response = edit(alice, user_message, "a neon city street in the rain", **HX)
    chat.refresh_from_db()
    assert chat.title == "a neon city street in the rain"
    assert '<h1 id="chat-title" class="chat-title" hx-swap-oob="true">a neon city street in the rain</h1>' in (
        response.content.decode()
    )


def test_an_edit_whose_turn_has_results_keeps_the_turn_and_posts_anew(alice, chat, claude):
    first = answered(chat, claude)
    option = Option.objects.filter(message=first).first()
    paid = Generation.objects.create(
        owner=alice,
        option=option,
        chat=chat,
        kind=option.kind,
        model_key=option.model_key,
        prompt="p",
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    user_message = Message.objects.get(chat=chat, author_type="user")
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert "Send as new message" in html
    assert "This turn has results, so it stays" in html

    claude.script(answer)
    response = edit(alice, user_message, "a neon city street in the rain", **HX)
    assert response.status_code == 200
    assert 'hx-swap-oob="beforeend:#messages"' in response.content.decode()
    assert Generation.objects.filter(pk=paid.pk).exists()
    assert Option.objects.filter(pk=option.pk).exists()
    texts = list(
        Message.objects.filter(chat=chat, author_type="user")
        .order_by("position")
        .values_list("content_text", flat=True)
    )
    assert texts == [TEXT, "a neon city street in the rain"]


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("   ", "an empty message cannot be sent"),
        ("x" * (services.MESSAGE_MAX_LENGTH + 1), "A message can have at most"),
    ],
)
def test_a_refused_edit_says_why_and_keeps_the_turn(alice, chat, claude, words, reason):
    first = answered(chat, claude)
    user_message = Message.objects.get(chat=chat, author_type="user")
    response = edit(alice, user_message, words, **HX)
    assert response.status_code == 422
    assert reason in response.content.decode()
    assert response["HX-Retarget"] == f"#edit-error-{user_message.id}"
    user_message.refresh_from_db()
    first.refresh_from_db()
    assert user_message.content_text == TEXT
    assert first.status == Message.Status.COMPLETE


def test_a_refused_edit_without_scripts_shows_the_words_as_sent_and_why(alice, chat, claude):
    answered(chat, claude)
    user_message = Message.objects.get(chat=chat, author_type="user")
    words = "<b>bold</b> " + "y" * services.MESSAGE_MAX_LENGTH
    response = edit(alice, user_message, words)
    assert response.status_code == 422
    html = response.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; yyy" in html
    assert '<details class="edit" open>' in html
    assert "A message can have at most" in html


def test_edits_are_rate_limited_and_the_refusal_keeps_the_turn(alice, chat, claude, settings):
    settings.RATE_LIMIT_MESSAGES = "1/minute"
    answered(chat, claude)
    user_message = Message.objects.get(chat=chat, author_type="user")
    claude.script(answer)
    assert edit(alice, user_message, "a neon city", **HX).status_code == 200
    response = edit(alice, user_message, "a lighthouse", **HX)
    assert response.status_code == 422
    assert "You&#x27;re sending messages quickly" in response.content.decode()
    user_message.refresh_from_db()
    assert user_message.content_text == "a neon city"
    assert ReplyRetry.objects.count() == 1


def test_only_the_last_message_can_be_edited(alice, chat, claude):
    answered(chat, claude)
    answered(chat, claude, "a lighthouse in a storm")
    first = Message.objects.get(chat=chat, position=1)
    response = edit(alice, first, "something else", **HX)
    assert response.status_code == 422
    assert "Only your last message can be edited." in response.content.decode()
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert f"/messages/{first.id}/edit/" not in html


def test_a_message_cannot_be_edited_while_its_reply_is_written(alice, chat):
    user_message, pending = services.message_post_begin(chat=chat, text=TEXT)
    response = edit(alice, user_message, "something else", **HX)
    assert response.status_code == 422
    assert "stop it, or wait for it to end" in response.content.decode()


def test_only_the_owner_can_edit(alice, bob, chat, claude):
    answered(chat, claude)
    user_message = Message.objects.get(chat=chat, author_type="user")
    assert edit(bob, user_message, "mine now", **HX).status_code == 404
    user_message.refresh_from_db()
    assert user_message.content_text == TEXT


# --- Search ---


def test_search_finds_chats_by_title_and_by_message_text_with_the_match_marked(alice, chat, claude):
    answered(chat, claude, "a lighthouse in a storm at dusk")
    other = services.chat_create(owner=alice, title="Storm chasers")
    services.chat_create(owner=alice, title="Gardens")
    response = client_for(alice).get("/chats/search/", {"q": "storm"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="chat-list"' in html
    assert f'href="/chats/{other.id}/"' in html
    assert f'href="/chats/{chat.id}/"' in html
    assert "a lighthouse in a <mark>storm</mark> at dusk" in html
    assert "Gardens" not in html


def test_search_without_scripts_is_a_page_and_says_when_nothing_matches(alice, chat):
    response = client_for(alice).get("/chats/search/", {"q": "zebra"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "No chats match “zebra”." in html
    assert 'value="zebra"' in html
    assert 'id="composer' not in html


def test_a_cleared_search_gives_the_chat_list_back(alice, chat):
    html = client_for(alice).get("/chats/search/", {"q": " "}, headers=HX).content.decode()
    assert 'id="chat-list"' in html
    assert "Sunsets" in html


def test_search_shows_only_the_persons_own_chats(alice, bob, chat, claude):
    answered(chat, claude, "a secret lighthouse")
    services.chat_create(owner=bob, title="Bob's lighthouse")
    html = client_for(bob).get("/chats/search/", {"q": "lighthouse"}, headers=HX).content.decode()
    assert "Bob&#x27;s lighthouse" in html
    assert "secret" not in html and str(chat.id) not in html
    assert [m.chat.title for m in search.chat_search(user=bob, query="lighthouse")] == ["Bob's lighthouse"]


def test_search_escapes_what_it_shows(alice, chat, claude):
    answered(chat, claude, "<script>alert(1)</script> a fox")
    services.chat_create(owner=alice, title="<img src=x onerror=alert(1)> fox")
    html = client_for(alice).get("/chats/search/", {"q": "<script>"}, headers=HX).content.decode()
    assert "<script>" not in html
    assert "<mark>&lt;script&gt;</mark>alert(1)" in html
    html = client_for(alice).get("/chats/search/", {"q": "fox"}).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; fox" in html


def test_the_excerpt_is_short_and_says_where_it_was_cut():
    words = " ".join(["before"] * 30 + ["needle"] + ["after"] * 30)
    excerpt = search.excerpt_find(words, "NEEDLE")
    assert excerpt.match == "needle"
    assert excerpt.before.startswith("…") and excerpt.after.endswith("…")
    assert len(excerpt.before) + len(excerpt.after) < 100


def test_search_is_for_people_logged_in(db):
    response = Client().get("/chats/search/", {"q": "x"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
