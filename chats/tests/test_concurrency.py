"""Counters and positions stay exact when many posts arrive at once."""

import pytest

from chats import services
from chats.models import Chat, Message
from higgs_project.testing import at_once

THREADS = 6
POSTS_EACH = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_keep_message_count_and_order_exact(alice, seed_catalogue):
    chat = services.chat_create(owner=alice, title="busy")

    def post_several(n):
        for i in range(POSTS_EACH):
            services.message_post(chat=chat, text=f"thread {n} idea {i}: a glacier under northern lights")

    _, errors = at_once(THREADS, post_several)
    assert errors == []
    chat = Chat.objects.get(pk=chat.pk)
    total = THREADS * POSTS_EACH * 2
    assert chat.message_count == total
    positions = list(Message.objects.filter(chat=chat).order_by("position").values_list("position", flat=True))
    assert positions == list(range(1, total + 1))
    # Each reply directly follows its own user message.
    messages = list(Message.objects.filter(chat=chat).order_by("position"))
    for user_message, reply in zip(messages[::2], messages[1::2], strict=True):
        assert user_message.author_type == "user"
        assert reply.author_type == "assistant"
    assert chat.last_message_at == max(m.created_at for m in messages)
