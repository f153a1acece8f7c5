"""Messages per person are limited (RATE_LIMIT_MESSAGES): the API answers 429 with Retry-After, the pages
say when to try again, and the limit counts every chat of the person, across processes (it counts rows)."""

import math
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from chats import services
from chats.errors import ServiceError
from chats.models import Chat, Message
from higgs_project.apikit.rate_limits import rate_parse, wait_words

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
TEXT = "a cinematic sunset over mountains"


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Busy")


def fill(chat, n, *, ago=None):
    """n messages from the chat's owner, as if sent `ago` before now."""
    for i in range(n):
        user_message, _reply = services.message_post_begin(chat=chat, text=f"idea {i}: a glacier at night")
        if ago is not None:
            Message.objects.filter(pk=user_message.pk).update(created_at=user_message.created_at - ago)


def post(api, chat, text=TEXT, **headers):
    return api.post(f"/api/chats/{chat.id}/messages", {"text": text}, headers=headers)


def user_messages(user) -> int:
    return Message.objects.filter(chat__owner=user, author_type="user").count()


def oldest_counted(user, count: int):
    """When the message that must leave the window first was sent: the count-th newest of the person's."""
    sent = Message.objects.filter(chat__owner=user, author_type="user").order_by("-created_at")
    return sent.values_list("created_at", flat=True)[count - 1]


def waits_between(oldest, seconds: int, before, after) -> range:
    """The waits a refusal made between `before` and `after` can name, `oldest` leaving a window of `seconds`:
    what it says is checked against the clock it was made by, not against a guess of how long the test took."""
    leaves = oldest + timedelta(seconds=seconds)
    return range(max(1, math.ceil((leaves - after).total_seconds())), math.ceil((leaves - before).total_seconds()) + 1)


def test_past_the_limit_the_api_answers_429_with_retry_after(alice_api, alice, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "3/minute"
    fill(chat, 3)
    before = timezone.now()
    response = post(alice_api, chat)
    after = timezone.now()
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert wait in waits_between(oldest_counted(alice, 3), 60, before, after)
    assert response.json() == {"detail": f"You're sending messages quickly. Try again in {wait} seconds."}
    assert user_messages(alice) == 3
    assert Chat.objects.get(pk=chat.pk).message_count == 6


def test_a_streamed_post_is_refused_the_same_way(alice_api, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "1/minute"
    fill(chat, 1)
    response = post(alice_api, chat, Accept="text/event-stream")
    assert response.status_code == 429
    assert response["Retry-After"]
    assert response["Content-Type"] == "application/json; charset=utf-8"


def test_under_the_limit_posting_works(alice_api, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "3/minute"
    fill(chat, 2)
    assert post(alice_api, chat).status_code == 201


def test_the_limit_counts_every_chat_of_the_person_and_no_one_else(alice, bob, bob_api, alice_api, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "2/minute"
    fill(chat, 2)
    other = services.chat_create(owner=alice, title="Elsewhere")
    assert post(alice_api, other).status_code == 429
    bobs = services.chat_create(owner=bob, title="Bob's")
    assert post(bob_api, bobs).status_code == 201


def test_messages_older_than_the_window_no_longer_count(alice, alice_api, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "2/60"
    fill(chat, 1, ago=timedelta(seconds=50))
    fill(chat, 1, ago=timedelta(seconds=10))
    before = timezone.now()
    refused = post(alice_api, chat)
    after = timezone.now()
    assert refused.status_code == 429
    # The older of the two (sent 50 seconds ago) leaves the window first, about 10 seconds from now.
    assert int(refused["Retry-After"]) in waits_between(oldest_counted(alice, 2), 60, before, after)
    Message.objects.filter(chat=chat).update(created_at=chat.created_at - timedelta(seconds=61))
    assert post(alice_api, chat).status_code == 201


@pytest.mark.parametrize("off", ["", "0", "0/minute"])
def test_an_empty_or_zero_limit_is_off(alice_api, chat, settings, off):
    settings.RATE_LIMIT_MESSAGES = off
    fill(chat, 5)
    assert post(alice_api, chat).status_code == 201


def test_staff_are_limited_too(admin_user, seed_catalogue, settings):
    settings.RATE_LIMIT_MESSAGES = "1/hour"
    chat = services.chat_create(owner=admin_user, title="Staff")
    fill(chat, 1)
    before = timezone.now()
    with pytest.raises(services.MessageRateLimited) as caught:
        services.message_post_begin(chat=chat, text=TEXT)
    after = timezone.now()
    assert isinstance(caught.value, ServiceError)
    assert caught.value.retry_after in waits_between(oldest_counted(admin_user, 1), 3600, before, after)
    assert str(caught.value) == "You're sending messages quickly. Try again in 60 minutes."


def test_the_chat_page_says_when_to_try_again(alice, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "2/minute"
    fill(chat, 2)
    client = Client()
    client.force_login(alice)
    response = client.post(f"/chats/{chat.id}/messages/", {"text": TEXT}, headers=HX)
    html = response.content.decode()
    assert "You&#x27;re sending messages quickly. Try again in " in html
    assert " seconds." in html
    assert response["HX-Retarget"] == "#composer-error"
    assert user_messages(alice) == 2


def test_a_new_chat_refused_by_the_limit_leaves_no_empty_chat(alice, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "2/minute"
    fill(chat, 2)
    client = Client()
    client.force_login(alice)
    response = client.post("/chats/start/", {"text": TEXT}, headers=HX)
    assert "sending messages quickly" in response.content.decode()
    assert list(Chat.objects.filter(owner=alice)) == [chat]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("30/minute", (30, 60)),
        ("30/minutes", (30, 60)),
        ("5 / hour", (5, 3600)),
        ("2/second", (2, 1)),
        ("100/day", (100, 86400)),
        ("30/90", (30, 90)),
        ("", None),
        (None, None),
        ("0", None),
        ("0/minute", None),
        ("5/0", None),
    ],
)
def test_limits_are_written_as_count_per_window(value, parsed):
    assert rate_parse(value, setting="RATE_LIMIT_MESSAGES") == parsed


@pytest.mark.parametrize("value", ["30", "thirty/minute", "30/fortnight", "-1/minute"])
def test_a_malformed_limit_is_a_configuration_error_naming_the_setting(value):
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_MESSAGES"):
        rate_parse(value, setting="RATE_LIMIT_MESSAGES")


def test_waits_read_as_words():
    assert [wait_words(s) for s in (1, 20, 89, 90, 600)] == [
        "1 second",
        "20 seconds",
        "89 seconds",
        "2 minutes",
        "10 minutes",
    ]


@pytest.mark.django_db(transaction=True)
def test_parallel_posts_to_different_chats_cannot_pass_the_limit_together(alice, settings):
    from higgs_project.testing import at_once

    settings.RATE_LIMIT_MESSAGES = "3/minute"
    chats = [services.chat_create(owner=alice, title=f"Chat {n}") for n in range(8)]

    def post_one(n):
        return services.message_post_begin(chat=chats[n], text="a glacier at night")

    posted, refused = at_once(8, post_one)
    assert len(posted) == 3
    assert len(refused) == 5 and all(isinstance(e, services.MessageRateLimited) for e in refused)
    assert user_messages(alice) == 3


def test_retrying_replies_is_limited_too(alice_api, alice, chat, settings):
    settings.RATE_LIMIT_MESSAGES = "2/minute"
    _user_message, reply = services.message_post_begin(chat=chat, text=TEXT)

    def retry():
        Message.objects.filter(pk=reply.pk).update(status=Message.Status.FAILED, error="The recommender failed.")
        return alice_api.post(f"/api/messages/{reply.id}/retry")

    assert retry().status_code == 200
    assert retry().status_code == 200
    refused = retry()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Try again in" in refused.json()["detail"]
    assert Message.objects.get(pk=reply.pk).status == Message.Status.FAILED  # nothing was asked again
