"""A page of a list costs the same number of SQL queries whatever its size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats import services
from chats.models import Attachment, Message

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
