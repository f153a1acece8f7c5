"""The ASGI application, as gunicorn serves it: stock middleware behaviour with the hooks run on the event loop.

Sessions, CSRF, sign-in, flash messages and the security headers must work exactly as under WSGI; these
tests drive `higgs_project.asgi.application` itself (the test client goes through WSGI).
"""

import asyncio
import json
import re
import time

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from chats import services
from higgs_project.middleware import ON_LOOP, OnLoop

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long enough password 1"


def run(scenario):
    """Runs `scenario(client)` against the ASGI application, in an event loop of its own."""
    from higgs_project.asgi import application

    async def main():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await scenario(client)

    return asyncio.run(main())


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


async def sign_in(client, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/accounts/login/")
    return await client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(page.text)},
    )


@pytest.fixture
def person():
    return get_user_model().objects.create_user(username="ada", password=PASSWORD)


def test_every_middleware_runs_on_the_loop_under_asgi():
    """A stock middleware without an on-loop twin would hand every request to a thread and back, twice."""
    for path in settings.MIDDLEWARE:
        runs = import_string(ON_LOOP.get(path, path))
        hops = issubclass(runs, MiddlewareMixin) and not issubclass(runs, OnLoop)
        assert not hops, f"{path} runs its hooks in a thread under ASGI: give it an on-loop twin in ON_LOOP"


def test_sign_in_keeps_the_session_and_pages_carry_the_security_headers(person):
    services.chat_create(owner=person, title="Sunset studies")

    async def scenario(client):
        signed_in = await sign_in(client, "ada")
        home = await client.get("/", headers={"Accept-Encoding": "gzip"}, follow_redirects=True)
        return signed_in, home

    signed_in, home = run(scenario)
    assert signed_in.status_code == 302
    assert settings.SESSION_COOKIE_NAME in signed_in.cookies
    assert home.status_code == 200
    assert "Sunset studies" in home.text
    assert home.headers["Content-Encoding"] == "gzip"
    assert home.headers["X-Frame-Options"] == "DENY"
    assert home.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in home.headers["Content-Security-Policy"]
    assert "Cookie" in home.headers["Vary"]


def test_a_form_post_without_its_csrf_token_is_refused(person):
    async def scenario(client):
        await client.get("/accounts/login/")
        return await client.post("/accounts/login/", data={"username": "ada", "password": PASSWORD})

    refused = run(scenario)
    assert refused.status_code == 403
    assert settings.SESSION_COOKIE_NAME not in refused.cookies


def test_a_password_change_saves_the_session_and_shows_its_flash_message(person):
    new_password = "another long password 2"

    async def scenario(client):
        await sign_in(client, "ada")
        form = await client.get("/accounts/password/")
        changed = await client.post(
            "/accounts/password/",
            data={
                "old_password": PASSWORD,
                "new_password1": new_password,
                "new_password2": new_password,
                "csrfmiddlewaretoken": csrf_token(form.text),
            },
        )
        home = await client.get("/")
        again = await client.get("/")
        return changed, home, again

    changed, home, again = run(scenario)
    assert changed.status_code == 302
    # Still signed in: the session was saved with the new password's hash.
    assert home.status_code == 200 and "ada" in home.text
    assert "Your password was changed." in home.text
    # A flash message is shown once.
    assert "Your password was changed." not in again.text
    person.refresh_from_db()
    assert person.check_password(new_password)


def test_an_api_read_answers_json_with_a_bearer_token(person):
    services.chat_create(owner=person, title="Orbit shots")
    _, raw = services.api_token_create(user=person, name="asgi")

    async def scenario(client):
        return await client.get(
            "/api/chats?limit=10", headers={"Authorization": f"Bearer {raw}", "Accept-Encoding": "gzip"}
        )

    answer = run(scenario)
    assert answer.status_code == 200
    assert [chat["title"] for chat in answer.json()["items"]] == ["Orbit shots"]
    assert answer.headers["X-Request-ID"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_reply_streams_and_is_saved_while_its_thread_outlives_the_request(person, seed_catalogue):
    """The reply is written in a task with a thread of its own, apart from the request's reused one."""
    from chats.models import Message

    chat = services.chat_create(owner=person, title="Music video")
    _, raw = services.api_token_create(user=person, name="asgi")
    headers = {"Authorization": f"Bearer {raw}"}

    async def scenario(client):
        streamed = await client.post(
            f"/api/chats/{chat.pk}/messages",
            json={"text": "a cinematic sunset over mountains"},
            headers={**headers, "Accept": "text/event-stream"},
        )
        answered = await client.post(
            f"/api/chats/{chat.pk}/messages", json={"text": "a neon city street in the rain"}, headers=headers
        )
        return streamed, answered

    streamed, answered = run(scenario)
    assert streamed.status_code == 200
    events = re.findall(r"^event: (\w+)$", streamed.text, flags=re.MULTILINE)
    assert events[0] == "message" and events[-1] == "done" and "option" in events
    assert answered.status_code == 201
    assert answered.json()["message"]["status"] == "complete"
    replies = Message.objects.filter(chat=chat, author_type=Message.Author.ASSISTANT)
    assert sorted(replies.values_list("status", flat=True)) == ["complete", "complete"]


def test_a_reply_is_still_written_when_its_reader_goes_away(person, seed_catalogue):
    """The reply's task outlives the request: its database steps go on after the request's thread is back."""
    from chats import replies
    from chats.models import Message
    from higgs_project.asgi import application

    chat = services.chat_create(owner=person, title="Music video")
    _, raw = services.api_token_create(user=person, name="asgi")
    body = json.dumps({"text": "a cinematic sunset over mountains"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/chats/{chat.pk}/messages",
        "raw_path": f"/api/chats/{chat.pk}/messages".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {raw}".encode()),
            (b"accept", b"text/event-stream"),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = []

    async def converse():
        first_event = asyncio.Event()
        asked = False

        async def receive():
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": body, "more_body": False}
            await first_event.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                first_event.set()

        await application(scope, receive, send)
        await replies.replies_wait()

    asyncio.run(converse())
    streamed = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    assert sent[0]["status"] == 200
    assert streamed.startswith("event: message")
    assert "event: done" not in streamed
    reply = Message.objects.get(chat=chat, author_type=Message.Author.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE
    assert reply.options.count() >= 2
    if connection.vendor == "postgresql":
        # The steps it ran after the request ended gave their connections back (to the pool, in production).
        assert _other_sessions_settle() == 0


def _other_sessions_settle(seconds: float = 3.0) -> int:
    deadline = time.monotonic() + seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (others,) = cursor.fetchone()
        if others == 0 or time.monotonic() > deadline:
            return others
        time.sleep(0.05)
