"""With a connection pool (PostgreSQL), a reply holds no connection while Claude writes it.

Each step of a request takes a pooled connection and gives it back when it ends: four replies written at
once, each waiting 3 s on the model, share a pool of two connections whose wait for a free one gives up
after 2 s. Had each request kept its connection until its reply was written, the third and fourth would
find none for the model's 3 s, and fail.
"""

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest
from django.db import connection

from bench.fake_model import answer
from chats import services
from higgs_project.testing import app_env, fake_claude, running_app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the connection pool is PostgreSQL's"),
]


def test_four_replies_at_once_share_a_pool_of_two_connections(django_db_blocker, tmp_path, seed_catalogue):
    from chats.models import User

    people = []
    for n in range(4):
        user = User.objects.create_user(username=f"writer{n}", password="a long enough password 1")
        chat = services.chat_create(owner=user, title="")
        people.append((services.api_token_create(user=user, name="pool")[1], chat.pk))

    with fake_claude(partial(answer, delay=3)) as claude:
        env = app_env(
            django_db_blocker,
            tmp_path / "media",
            claude=claude,
            DATABASE_POOL_MAX_SIZE="2",
            DATABASE_POOL_MIN_SIZE="1",
            DATABASE_POOL_TIMEOUT="2",
        )
        with running_app(env, worker=False) as base:

            def post(person):
                token, chat_id = person
                return httpx.post(
                    f"{base}/api/chats/{chat_id}/messages",
                    json={"text": "a lighthouse in a storm"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )

            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(post, people))
    assert [a.status_code for a in answers] == [201] * 4
    assert [a.json()["message"]["status"] for a in answers] == ["complete"] * 4
    assert all("three ways to make a lighthouse" in a.json()["message"]["content_text"] for a in answers)
