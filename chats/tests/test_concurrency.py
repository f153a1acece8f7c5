"""Counters and positions stay exact when many posts arrive at once."""

import threading

import pytest
from django.db import connection

from chats import services
from chats.models import Chat, Message

THREADS = 6
POSTS_EACH = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_keep_message_count_and_order_exact(alice, seed_catalogue):
    chat = services.chat_create(owner=alice, title="busy")
    errors = []
    start = threading.Barrier(THREADS)

    def worker(n):
        try:
            start.wait()
            for i in range(POSTS_EACH):
                services.message_post(chat=chat, text=f"thread {n} idea {i}: a glacier under northern lights")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

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
