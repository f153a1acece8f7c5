"""Posts that arrive together start their replies in turns (chats.replies.reply_start): a turn ends as the
reply's model call goes out, so nobody waits for anyone else's model, and a refused post gives its turn back."""

import asyncio
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from chats import replies, services
from chats.models import Message
from recommender.tests.fake_anthropic import reply, text

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_SECONDS = 1.0


def _post_all(token: str, posts: list[tuple[str, dict]]) -> tuple[list, float]:
    async def run():
        client = AsyncClient()
        headers = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        responses = await asyncio.wait_for(
            asyncio.gather(
                *(client.post(path, body, content_type="application/json", headers=headers) for path, body in posts)
            ),
            timeout=20,
        )
        return responses, time.monotonic() - started

    return async_to_sync(run)()


def test_posts_at_once_each_wait_for_their_own_model_not_for_each_others(alice, alice_api, claude, settings):
    settings.REPLY_STARTS_AT_ONCE = 1
    chats = [services.chat_create(owner=alice, title=f"Burst {n}") for n in range(3)]
    claude.script(
        reply(text("Warm.")), *(reply(text(f"Answer {n}: a few words on it."), delay=MODEL_SECONDS) for n in range(3))
    )
    # A first reply loads what every reply uses (the catalogue as the model reads it, the request reader).
    _post_all(alice_api.token, [(f"/api/chats/{chats[0].id}/messages", {"text": "warming up"})])

    responses, elapsed = _post_all(
        alice_api.token, [(f"/api/chats/{chat.id}/messages", {"text": "a lighthouse in a storm"}) for chat in chats]
    )

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert sorted(r.json()["message"]["content_text"][:8] for r in responses) == ["Answer 0", "Answer 1", "Answer 2"]
    assert claude.request_count == 4
    # Turns held through the model's time would take three times it, one reply after another.
    assert elapsed < 2 * MODEL_SECONDS, f"the three replies took {elapsed:.2f} s"


def test_a_refused_post_gives_its_turn_back_and_the_next_post_is_answered(alice, alice_api, bob, claude, settings):
    settings.REPLY_STARTS_AT_ONCE = 1
    mine = services.chat_create(owner=alice, title="Mine")
    theirs = services.chat_create(owner=bob, title="Theirs")
    claude.script(reply(text("Here is one idea for it.")))

    responses, _ = _post_all(
        alice_api.token,
        [
            (f"/api/chats/{mine.id}/messages", {"text": "   "}),
            (f"/api/chats/{theirs.id}/messages", {"text": "a forest at dawn"}),
            (f"/api/chats/{mine.id}/messages", {"text": "a forest at dawn"}),
        ],
    )

    assert [r.status_code for r in responses] == [422, 404, 201]
    assert responses[2].json()["message"]["content_text"] == "Here is one idea for it."
    assert not Message.objects.filter(chat=theirs).exists()
    assert Message.objects.filter(chat=mine).count() == 2


def test_a_refused_edit_or_animation_on_the_pages_gives_its_turn_back(alice, claude, seed_catalogue, settings):
    settings.REPLY_STARTS_AT_ONCE = 1
    chat = services.chat_create(owner=alice, title="Pages")
    claude.script(reply(text("A first idea.")), reply(text("A second idea.")))
    services.message_post(chat=chat, text="a forest at dawn")
    sent = Message.objects.get(chat=chat, author_type=Message.Author.USER)
    headers = {"HX-Request": "true"}

    async def run():
        client = AsyncClient()
        await client.aforce_login(alice)
        edited = await client.post(f"/messages/{sent.id}/edit/", {"text": "   "}, headers=headers)
        animated = await client.post(f"/generations/{uuid.uuid4()}/animate/", headers=headers)
        # A turn kept by either would leave this post waiting for ever.
        posted = await client.post(f"/chats/{chat.id}/messages/", {"text": "a river at dusk"}, headers=headers)
        await replies.replies_wait()
        return edited, animated, posted

    async def in_time():
        return await asyncio.wait_for(run(), timeout=20)

    edited, animated, posted = async_to_sync(in_time)()

    assert (edited.status_code, animated.status_code, posted.status_code) == (422, 404, 200)
    answers = Message.objects.filter(chat=chat, author_type=Message.Author.ASSISTANT).order_by("position")
    assert [m.content_text for m in answers] == ["A first idea.", "A second idea."]
