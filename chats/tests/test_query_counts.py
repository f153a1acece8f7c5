"""A page of a list costs the same number of SQL queries whatever its size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats import services
from chats.models import Attachment, Message, Option

pytestmark = pytest.mark.django_db


def count_queries(call):
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_chat_list_costs_the_same_for_1_and_25_chats(alice, alice_api):
    services.chat_create(owner=alice, title="only one")
    alice_api.get("/api/chats")  # the token's last use is recorded once a minute: take it out of the count
    one = count_queries(lambda: alice_api.get("/api/chats?limit=50"))
    for i in range(24):
        services.chat_create(owner=alice, title=f"chat {i}")
    many = count_queries(lambda: alice_api.get("/api/chats?limit=50"))
    assert one == many
    assert many <= 3


def test_the_message_list_costs_the_same_for_2_and_40_messages_with_attachments(alice, alice_api, seed_catalogue):
    chat = services.chat_create(owner=alice, title="t")

    def add_pair(i):
        message = Message.objects.create(chat=chat, position=2 * i + 1, author_type="user", content_text=f"m{i}")
        Message.objects.create(chat=chat, position=2 * i + 2, author_type="assistant", content_text="r")
        Attachment.objects.create(
            owner=alice, chat=chat, message=message, kind="image", mime="image/png", file=f"attachments/x/{i}.png"
        )

    add_pair(0)
    alice_api.get("/api/chats")
    url = f"/api/chats/{chat.id}/messages?limit=100"
    few = count_queries(lambda: alice_api.get(url))
    for i in range(1, 20):
        add_pair(i)
    many = count_queries(lambda: alice_api.get(url))
    assert few == many
    assert many <= 4


def test_the_chat_page_costs_the_same_for_2_and_4_finished_generations(alice, seed_catalogue, fast_generation):
    # Each finished card shows another take's price (and whether the balance pays it) and its style's name:
    # read once for the page by the view, not by the template for each card.
    from django.test import Client

    from chats.tests.test_pages_gallery import made
    from generation.models import Generation

    chat = services.chat_create(owner=alice, title="Made")
    services.message_post(chat=chat, text="a cinematic sunset over mountains")
    services.message_post(chat=chat, text="a vertical 9:16 video of a dancer, 10 seconds, 1080p")
    options = list(Option.objects.filter(message__chat=chat).order_by("message__position", "position"))
    assert len(options) >= 4

    def finish(option):
        generation = made(alice, f"made from {option.reason[:40]}", chat=chat)
        Generation.objects.filter(pk=generation.pk).update(
            option=option, model_key=option.model_key, style_id=option.style_id, motion_id=option.motion_id
        )

    client = Client()
    client.force_login(alice)
    url = f"/chats/{chat.id}/"
    # One of each kind first (a style's name, a motion's): their names are a query for each kind.
    first = [next(o for o in options if o.style_id), next(o for o in options if o.motion_id)]
    for option in first:
        finish(option)
    client.get(url)  # labels and sessions warmed
    two = count_queries(lambda: client.get(url))
    for option in [o for o in options if o not in first][:2]:
        finish(option)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(url).content.decode()
    assert len(ctx.captured_queries) == two, [q["sql"] for q in ctx.captured_queries]
    assert html.count("Another take · ") == 4
    finished = Generation.objects.filter(option__message__chat=chat)
    assert html.count("<dt>Style or motion</dt>") == finished.exclude(style_id=None, motion_id=None).count()
