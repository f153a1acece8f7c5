"""Posts that arrive together start their replies in turns (chats.replies.reply_post): a turn ends as the reply's
model call goes out, so nobody waits for anyone else's model, and a refused post, on every page and API path that
starts a reply, gives its turn back and leaves nothing behind."""

import asyncio
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from chats import replies, services
from chats.models import Chat, Message, ReplyRetry
from recommender.tests.fake_anthropic import error, reply, text

pytestmark = pytest.mark.django_db(transaction=True)

# Only a safety net against a test that would otherwise wait for ever: nothing here measures time.
PATIENCE_SECONDS = 20


def _post_all(token: str, posts: list[tuple[str, dict]]) -> list:
    async def run():
        client = AsyncClient()
        headers = {"Authorization": f"Bearer {token}"}
        return await asyncio.wait_for(
            asyncio.gather(
                *(client.post(path, body, content_type="application/json", headers=headers) for path, body in posts)
            ),
            timeout=PATIENCE_SECONDS,
        )

    return async_to_sync(run)()


def _together(barrier: threading.Barrier, answer):
    """A scripted model call that is answered only once all the calls the barrier waits for are in flight at once."""

    def step(_record):
        try:
            barrier.wait(timeout=4)
        except threading.BrokenBarrierError:
            return error(500, message="this call was not in flight together with the others")
        return answer

    return step


def test_posts_at_once_each_wait_for_their_own_model_not_for_each_others(alice, alice_api, claude, settings):
    settings.REPLY_STARTS_AT_ONCE = 1
    settings.ANTHROPIC_MAX_RETRIES = 0
    chats = [services.chat_create(owner=alice, title=f"Burst {n}") for n in range(3)]
    # Each model call is answered only when all three are out at once: turns held through the model's time
    # (one reply after another) would never get there, and every reply would fail.
    barrier = threading.Barrier(3)
    claude.script(*(_together(barrier, reply(text(f"Answer {n}: a few words on it."))) for n in range(3)))

    responses = _post_all(
        alice_api.token, [(f"/api/chats/{chat.id}/messages", {"text": "a lighthouse in a storm"}) for chat in chats]
    )

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert sorted(r.json()["message"]["content_text"][:8] for r in responses) == ["Answer 0", "Answer 1", "Answer 2"]
    assert claude.request_count == 3


def test_a_refused_post_gives_its_turn_back_and_the_next_post_is_answered(alice, alice_api, bob, claude, settings):
    settings.REPLY_STARTS_AT_ONCE = 1
    mine = services.chat_create(owner=alice, title="Mine")
    theirs = services.chat_create(owner=bob, title="Theirs")
    claude.script(reply(text("Here is one idea for it.")))

    responses = _post_all(
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


# --- Every path that starts a reply: refused, it gives its turn back and makes nothing ---


def _refusals(chat):
    """Each path that starts a reply, with a request it refuses: (page or api, path, body, status)."""
    answer = services.message_post(chat=chat, text="a forest at dawn")
    asked = Message.objects.get(chat=chat, position=answer.position - 1)
    foreign = {"text": "a forest at dawn", "attachment_url": "https://elsewhere.example/beach.png"}
    return {
        "api post": ("api", f"/api/chats/{chat.id}/messages", {"text": "   "}, 422),
        "api retry of a complete reply": ("api", f"/api/messages/{answer.id}/retry", {}, 422),
        "page post with another's file": ("page", f"/chats/{chat.id}/messages/", foreign, 422),
        "page first message with another's file": ("page", "/chats/start/", foreign, 422),
        "page retry of a complete reply": ("page", f"/messages/{answer.id}/retry/", {}, 400),
        "page edit to nothing": ("page", f"/messages/{asked.id}/edit/", {"text": "   "}, 422),
        "page animation of no image": ("page", f"/generations/{uuid.uuid4()}/animate/", {}, 404),
    }


PATHS = [
    "api post",
    "api retry of a complete reply",
    "page post with another's file",
    "page first message with another's file",
    "page retry of a complete reply",
    "page edit to nothing",
    "page animation of no image",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_that_starts_a_reply_gives_a_refused_posts_turn_back_and_makes_nothing(
    path, alice, alice_api, bob, bob_api, claude, seed_catalogue, settings
):
    settings.REPLY_STARTS_AT_ONCE = 1
    chat = services.chat_create(owner=alice, title="Refusals")
    claude.script(reply(text("A first idea.")), reply(text("The next one's idea.")))
    face, url, body, status = _refusals(chat)[path]
    bobs = services.chat_create(owner=bob, title="Next in line")
    counts = (Chat.objects.count(), Message.objects.count(), ReplyRetry.objects.count())

    async def run():
        client = AsyncClient()
        if face == "api":
            refused = await client.post(
                url, body, content_type="application/json", headers={"Authorization": f"Bearer {alice_api.token}"}
            )
        else:
            await client.aforce_login(alice)
            refused = await client.post(url, body, headers={"HX-Request": "true"})
        # With one turn in the process, a turn kept by the refused request would leave this post waiting for ever.
        answered = await client.post(
            f"/api/chats/{bobs.id}/messages",
            {"text": "a river at dusk"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {bob_api.token}"},
        )
        await replies.replies_wait()
        return refused, answered

    async def in_time():
        return await asyncio.wait_for(run(), timeout=PATIENCE_SECONDS)

    refused, answered = async_to_sync(in_time)()

    assert refused.status_code == status
    assert answered.status_code == 201
    assert answered.json()["message"]["content_text"] == "The next one's idea."
    assert (Chat.objects.count(), Message.objects.count() - 2, ReplyRetry.objects.count()) == counts


def test_a_rate_limited_first_message_makes_no_chat(alice, seed_catalogue, settings):
    settings.RATE_LIMIT_MESSAGES = "1/minute"
    services.message_post_begin(chat=services.chat_create(owner=alice, title="Earlier"), text="a forest at dawn")

    async def run():
        client = AsyncClient()
        await client.aforce_login(alice)
        return await client.post("/chats/start/", {"text": "a river at dusk"}, headers={"HX-Request": "true"})

    refused = async_to_sync(run)()

    assert refused.status_code == 422
    assert "sending messages quickly" in refused.content.decode()
    assert list(Chat.objects.filter(owner=alice).values_list("title", flat=True)) == ["Earlier"]


def test_a_first_message_makes_its_chat_named_after_it_with_the_reply(alice, seed_catalogue):
    user_message, pending = services.chat_start(owner=alice, text="a river at dusk")

    chat = Chat.objects.get(owner=alice)
    assert (chat.title, chat.message_count) == ("a river at dusk", 2)
    assert (user_message.chat_id, pending.chat_id, pending.status) == (chat.pk, chat.pk, Message.Status.PENDING)


@pytest.mark.parametrize(
    "post",
    [
        {"text": "x" * (services.MESSAGE_MAX_LENGTH + 1)},
        {"text": "a river at dusk", "attachment_urls": ["https://elsewhere.example/beach.png"]},
        {"text": "a river at dusk", "preferred_model": "no-such-model"},
    ],
    ids=["too long", "another's file", "an unknown model"],
)
def test_a_refused_first_message_leaves_no_chat(alice, seed_catalogue, post):
    with pytest.raises(services.ServiceError):
        services.chat_start(owner=alice, **post)
    assert not Chat.objects.filter(owner=alice).exists()
