"""The hot API reads as gunicorn serves them: `higgs_project.asgi.application`, bearer calls through the
middleware they need, reads on the event loop (on PostgreSQL; in the request's thread on SQLite).

Each answer must be the one the test client (WSGI, the stock middleware) gets, field for field, with the
security headers, and nobody else's data.
"""

import asyncio
import gc
import select
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from chats import services
from chats.models import Attachment, Chat, Message
from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario):
    """Runs `scenario(client)` against the ASGI application, in an event loop of its own."""
    from higgs_project.asgi import application

    async def main():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await scenario(client)

    return asyncio.run(main())


def png() -> ContentFile:
    return ContentFile(b"png", name="pic.png")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice_token(alice):
    return services.api_token_create(user=alice, name="asgi")[1]


@pytest.fixture
def bob_token(bob):
    return services.api_token_create(user=bob, name="asgi")[1]


def test_the_chat_list_answers_as_under_wsgi_with_every_security_header(alice, alice_api, alice_token):
    for i in range(13):
        services.chat_create(owner=alice, title=f"Chat {i}")

    async def scenario(client):
        first = await client.get("/api/chats?limit=5", headers=bearer(alice_token))
        second = await client.get(
            f"/api/chats?limit=5&cursor={first.json()['next_cursor']}", headers=bearer(alice_token)
        )
        return first, second

    first, second = run(scenario)
    assert first.status_code == 200
    assert first.json() == alice_api.get("/api/chats?limit=5").json()
    assert second.json() == alice_api.get(f"/api/chats?limit=5&cursor={first.json()['next_cursor']}").json()
    assert [c["title"] for c in first.json()["items"]] == [f"Chat {i}" for i in range(12, 7, -1)]
    item = first.json()["items"][0]
    assert set(item) == {"id", "user_id", "title", "message_count", "last_message_at", "created_at"}
    assert item["user_id"] == str(alice.pk) and item["last_message_at"] is None
    assert item["created_at"].endswith("Z") and len(item["created_at"]) == len("2026-01-02T03:04:05.678Z")
    headers = first.headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Request-ID"]
    # No session was read or made for a bearer call.
    assert "Set-Cookie" not in headers and "Cookie" not in headers.get("Vary", "")


def test_a_bad_cursor_or_a_bad_token_is_refused_with_its_reason(alice, alice_token):
    async def scenario(client):
        cursor = await client.get("/api/chats?cursor=not-a-cursor", headers=bearer(alice_token))
        token = await client.get("/api/chats", headers=bearer("hgs_not-a-real-token"))
        return cursor, token

    cursor, token = run(scenario)
    assert cursor.status_code == 400 and "cursor" in cursor.json()["detail"]
    assert token.status_code == 401 and token.json() == {"detail": "The API token is invalid or revoked."}


def test_the_browser_session_still_reads_the_api(alice):
    services.chat_create(owner=alice, title="Seen with the cookie")

    async def scenario(client):
        page = await client.get("/accounts/login/")
        token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        await client.post(
            "/accounts/login/",
            data={"username": "alice", "password": "correct horse battery", "csrfmiddlewaretoken": token},
        )
        signed_in = await client.get("/api/chats")
        client.cookies.clear()
        signed_out = await client.get("/api/chats")
        return signed_in, signed_out

    signed_in, signed_out = run(scenario)
    assert [c["title"] for c in signed_in.json()["items"]] == ["Seen with the cookie"]
    assert signed_out.status_code == 401


def test_messages_come_with_their_own_attachments_page_by_page(alice, alice_api, alice_token):
    chats = [services.chat_create(owner=alice, title=f"Chat {n}") for n in range(2)]
    for chat in chats:
        for position in range(1, 4):
            message = Message.objects.create(chat=chat, position=position, author_type="user", content_text="hi")
            Attachment.objects.create(
                owner=alice, chat=chat, message=message, kind="image", mime="image/png", size_bytes=1, file=png()
            )
        Chat.objects.filter(pk=chat.pk).update(message_count=3)

    async def scenario(client):
        pages = []
        for chat in chats:
            first = await client.get(f"/api/chats/{chat.pk}/messages?limit=2", headers=bearer(alice_token))
            after = first.json()["next_cursor"]
            rest = await client.get(f"/api/chats/{chat.pk}/messages?limit=2&after={after}", headers=bearer(alice_token))
            pages.append((first, rest))
        return pages

    for chat, (first, rest) in zip(chats, run(scenario), strict=True):
        url = f"/api/chats/{chat.pk}/messages?limit=2"
        assert first.json() == alice_api.get(url).json()
        assert rest.json() == alice_api.get(f"{url}&after={first.json()['next_cursor']}").json()
        items = first.json()["items"] + rest.json()["items"]
        assert len(items) == 3 and rest.json()["has_more"] is False
        assert all(m["chat_id"] == str(chat.pk) for m in items)
        assert all(len(m["attachments"]) == 1 for m in items)
        assert all(m["attachments"][0]["storage_url"].startswith("http://testserver/") for m in items)
        own = {str(a) for a in Attachment.objects.filter(chat=chat).values_list("id", flat=True)}
        assert {m["attachments"][0]["id"] for m in items} == own


def test_an_empty_chat_lists_no_messages(alice, alice_token):
    chat = services.chat_create(owner=alice, title="Quiet")

    async def scenario(client):
        return await client.get(f"/api/chats/{chat.pk}/messages", headers=bearer(alice_token))

    answer = run(scenario)
    assert answer.status_code == 200
    assert answer.json() == {"items": [], "next_cursor": None, "has_more": False}


def test_another_persons_chat_messages_and_generation_are_not_found(alice, bob, alice_token, bob_token):
    chat = services.chat_create(owner=alice, title="Alice's")
    Message.objects.create(chat=chat, position=1, author_type="user", content_text="mine")
    generation = Generation.objects.create(
        owner=alice,
        chat=chat,
        kind="text_to_image",
        model_key="soul",
        prompt="a lighthouse in a storm",
        status=Generation.Status.IN_PROGRESS,
        deadline_at=timezone.now() + timedelta(hours=1),
    )

    async def scenario(client):
        return [
            await client.get(f"/api/chats/{chat.pk}/messages", headers=bearer(token))
            for token in (alice_token, bob_token)
        ] + [await client.get(f"/api/generations/{generation.pk}", headers=bearer(t)) for t in (alice_token, bob_token)]

    alice_messages, bob_messages, alice_job, bob_job = run(scenario)
    assert [m["content_text"] for m in alice_messages.json()["items"]] == ["mine"]
    assert bob_messages.status_code == 404 and bob_messages.json() == {"detail": "Chat not found."}
    assert alice_job.status_code == 200
    assert alice_job.json()["status"] == "in_progress" and alice_job.json()["url"] is None
    assert bob_job.status_code == 404 and bob_job.json() == {"detail": "Generation not found."}

    # A bad cursor on someone else's chat says the chat is not there, as it does without a cursor.
    async def bad_cursor(client):
        return await client.get(f"/api/chats/{chat.pk}/messages?after=nonsense", headers=bearer(bob_token))

    assert run(bad_cursor).status_code == 404


def test_a_finished_generation_answers_its_result_as_under_wsgi(alice, alice_api, alice_token):
    result = Attachment.objects.create(
        owner=alice, kind="image", mime="image/png", size_bytes=1, width=4, height=3, file=png()
    )
    generation = Generation.objects.create(
        owner=alice,
        kind="text_to_image",
        model_key="soul",
        prompt="a koi pond from above",
        status=Generation.Status.COMPLETED,
        result=result,
        finished_at=timezone.now(),
        deadline_at=timezone.now() + timedelta(hours=1),
    )

    async def scenario(client):
        return await client.get(f"/api/generations/{generation.pk}", headers=bearer(alice_token))

    answer = run(scenario)
    assert answer.status_code == 200
    assert answer.json() == alice_api.get(f"/api/generations/{generation.pk}").json()
    assert answer.json()["url"].startswith("http://testserver/") and answer.json()["width"] == 4


def test_the_web_process_keeps_its_start_up_objects_out_of_the_collector():
    import higgs_project.asgi  # noqa: F401 - its import warms up and freezes

    assert gc.get_freeze_count() > 10_000


@pytest.mark.skipif(connection.vendor != "postgresql", reason="checks PostgreSQL's pooled connections")
def test_a_pooled_connection_the_server_closed_fails_its_check_and_a_live_one_passes():
    import psycopg

    from higgs_project.database import pooled_connection_check

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    live = psycopg.connect(**params, autocommit=True)
    doomed = psycopg.connect(**params, autocommit=True)
    try:
        pooled_connection_check(live)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [doomed.info.backend_pid])
        select.select([doomed.fileno()], [], [], 5)  # the server's goodbye arrives
        with pytest.raises(psycopg.OperationalError):
            pooled_connection_check(doomed)
        pooled_connection_check(live)
    finally:
        live.close()
        doomed.close()
    assert settings.DATABASES["default"]["OPTIONS"].get("pool", {}).get("check", pooled_connection_check) is (
        pooled_connection_check
    )


def test_a_compiled_read_answers_each_call_with_its_own_values(alice, bob):
    """The SQL of a read is compiled once and then only bound: a new chat, a new position, a value equal to a
    constant of the query, each call gets its own rows, as the ORM gives them."""
    from chats.selectors import message_history
    from higgs_project.database import Read

    chats = []
    for owner, words in ((alice, ["a lighthouse", "now at night"]), (bob, ["a red fox", "in the snow", "closer"])):
        chat = services.chat_create(owner=owner, title="")
        for position, text in enumerate(words, 1):
            Message.objects.create(chat=chat, position=position, author_type="user", content_text=text)
        chats.append(chat)
    for chat in chats * 2:
        for before in (1, 2, 3, 4):
            turns = message_history(chat_id=chat.pk, before_position=before)
            expected = list(
                Message.objects.filter(chat=chat, position__lt=before)
                .order_by("position")
                .values_list("content_text", flat=True)
            )
            assert [turn.text for turn in turns] == expected

    by_status = Read(
        lambda *, limit, status: Message.objects.filter(status=status, author_type="user").values("content_text")
    )
    Message.objects.filter(content_text="closer").update(status="failed")
    # Each status bound in turn gets its own rows from the one compiled statement.
    assert {r["content_text"] for r in by_status.sync(status="failed")} == {"closer"}
    assert len(by_status.sync(status="complete")) == 4
    assert by_status.sync(status="pending") == []

    # A first value equal to a constant of the query ("user") is not mistaken for it by the next call.
    by_text = Read(
        lambda *, limit, text: Message.objects.filter(content_text=text, author_type="user").values("position")
    )
    assert by_text.sync(text="user") == []
    assert by_text.sync(text="in the snow") == [{"position": 2}]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
@pytest.mark.parametrize("prepared", [True, False])
def test_the_chat_list_read_is_prepared_on_its_connection_unless_turned_off(alice, alice_token, settings, prepared):
    """PostgreSQL parses and plans a kept read once per connection (Django turns psycopg's preparing off, which
    would make `prepare=True` do nothing); DATABASE_PREPARED_READS off, for a pooler that cannot carry
    prepared statements, prepares nothing. The answers are the same either way."""
    from higgs_project.database import _pools

    settings.DATABASE_PREPARED_READS = prepared
    services.chat_create(owner=alice, title="Lighthouse at dusk")

    async def scenario(client):
        titles = []
        for _ in range(3):
            response = await client.get("/api/chats?limit=10", headers=bearer(alice_token))
            assert response.status_code == 200
            titles.append([chat["title"] for chat in response.json()["items"]])
        pool = await _pools.get()
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT statement FROM pg_prepared_statements")
            return titles, [row[0] for row in await cursor.fetchall()]

    titles, statements = run(scenario)
    assert titles == [["Lighthouse at dusk"]] * 3
    chat_list = [s for s in statements if 'FROM "chats_chat"' in s and "LIMIT 11" in s]
    assert len(chat_list) == (1 if prepared else 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_replys_reads_in_its_thread_are_prepared_once_and_still_counted(alice):
    """The reads a reply makes in its request's thread (`Read.sync`: the turns before it, here) are prepared
    on Django's own connection with one plan for every value, and Django still logs them, so the query
    counts of the tests see them."""
    from django.test.utils import CaptureQueriesContext

    from chats.selectors import message_history

    chat = services.chat_create(owner=alice, title="")
    for position, words in enumerate(["a lighthouse", "now at night", "closer"], 1):
        Message.objects.create(chat=chat, position=position, author_type="user", content_text=words)
    with CaptureQueriesContext(connection) as queries:
        turns = [[t.text for t in message_history(chat_id=chat.pk, before_position=p)] for p in (2, 3, 4)]
    assert turns == [["a lighthouse"], ["a lighthouse", "now at night"], ["a lighthouse", "now at night", "closer"]]
    assert sum('FROM "chats_message"' in q["sql"] for q in queries.captured_queries) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans FROM pg_prepared_statements")
        prepared = [(s, plans) for s, plans in cursor.fetchall() if 'FROM "chats_message"' in s]
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"
    assert len(prepared) == 1 and prepared[0][1] == 3
