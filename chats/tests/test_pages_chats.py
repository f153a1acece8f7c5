"""The chat pages: sidebar, chat page, rename, delete, posting, the streamed reply, retry; owner only, CSRF."""

import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.utils import timezone

from chats import replies, services
from chats.models import Chat, Message, Option
from higgs_project.testing import foreign_sources

pytestmark = pytest.mark.django_db

TEXT = "a cinematic sunset over mountains"
HX = {"HX-Request": "true"}


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Sunsets")


@pytest.fixture
def answered(chat):
    """A chat with one finished exchange."""
    services.message_post(chat=chat, text=TEXT)
    return chat


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def sse_events(body: str) -> list[tuple[str, str]]:
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            name = next(line[7:] for line in lines if line.startswith("event: "))
            events.append((name, "\n".join(line[6:] for line in lines if line.startswith("data: "))))
    return events


async def _read(response):
    body = ""
    async for chunk in response.streaming_content:
        body += chunk.decode() if isinstance(chunk, bytes) else chunk
    return body


def post_and_stream(user, chat, text=TEXT):
    """Post a message as the htmx composer does, then follow the reply's stream to its end."""
    client = AsyncClient()
    client.force_login(user)

    async def run():
        posted = await client.post(f"/chats/{chat.id}/messages/", {"text": text}, headers=HX)
        reply = await Message.objects.filter(chat=chat, author_type="assistant").order_by("-position").afirst()
        stream = await client.get(f"/messages/{reply.id}/stream/")
        body = await _read(stream)
        await replies.replies_wait()
        return posted, stream, body

    return async_to_sync(run)()


def stream_of(user, message):
    client = AsyncClient()
    client.force_login(user)

    async def run():
        response = await client.get(f"/messages/{message.id}/stream/")
        return response, (await _read(response) if response.status_code == 200 else "")

    return async_to_sync(run)()


# --- Pages ---


def test_home_without_chats_shows_the_empty_state_and_a_composer(alice):
    response = client_for(alice).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "What would you like to make?" in html
    assert "No chats yet" in html
    assert 'action="/chats/start/"' in html


def test_home_opens_the_most_recent_chat(alice, chat):
    older = services.chat_create(owner=alice, title="Older")
    Chat.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    response = client_for(alice).get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/chats/{chat.id}/"


def test_the_sidebar_lists_the_persons_chats_most_recent_first(alice, bob, chat):
    services.chat_create(owner=bob, title="Bob's secret")
    newer = services.chat_create(owner=alice, title="Newer")
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    sidebar = html[html.index('id="chat-list"') :]
    assert sidebar.index("Newer") < sidebar.index("Sunsets")
    assert "Bob's secret" not in html
    assert f'href="/chats/{newer.id}/"' in html
    assert f'<a href="/chats/{chat.id}/" aria-current="page">' in html


def test_a_chat_page_loads_directly_with_its_messages_options_and_composer(alice, answered):
    response = client_for(alice).get(f"/chats/{answered.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert TEXT in html
    reply = Message.objects.get(chat=answered, author_type="assistant")
    assert reply.content_text[:40] in html
    for option in Option.objects.filter(message=reply):
        assert f'id="option-{option.id}"' in html
        assert f'hx-post="/options/{option.id}/generate/"' in html
    assert "sse-connect" not in html  # nothing pending, nothing to stream
    assert 'id="composer-text"' in html


def test_another_persons_chat_pages_are_404(bob, answered):
    client = client_for(bob)
    assert client.get(f"/chats/{answered.id}/").status_code == 404
    assert client.get(f"/chats/{answered.id}/rename/").status_code == 404
    assert client.post(f"/chats/{answered.id}/rename/", {"title": "Mine"}).status_code == 404
    assert client.get(f"/chats/{answered.id}/delete/").status_code == 404
    assert client.post(f"/chats/{answered.id}/delete/").status_code == 404
    assert Chat.objects.filter(pk=answered.pk, title="Sunsets").exists()


def test_another_persons_async_pages_are_404(bob, answered):
    reply = Message.objects.get(chat=answered, author_type="assistant")
    client = AsyncClient()
    client.force_login(bob)

    async def run():
        return [
            (await client.post(f"/chats/{answered.id}/messages/", {"text": "hi"})).status_code,
            (await client.post(f"/messages/{reply.id}/retry/")).status_code,
            (await client.get(f"/messages/{reply.id}/stream/")).status_code,
        ]

    assert async_to_sync(run)() == [404, 404, 404]
    assert Message.objects.filter(chat=answered).count() == 2


def test_unsafe_requests_need_the_csrf_token(alice, answered):
    client = client_for(alice, enforce_csrf_checks=True)
    reply = Message.objects.get(chat=answered, author_type="assistant")
    option = reply.options.first()
    for path in [
        "/chats/start/",
        f"/chats/{answered.id}/rename/",
        f"/chats/{answered.id}/delete/",
        f"/chats/{answered.id}/messages/",
        f"/messages/{reply.id}/retry/",
        f"/options/{option.id}/generate/",
    ]:
        assert client.post(path, {"text": "x", "title": "x"}, headers=HX).status_code == 403, path
    assert Chat.objects.filter(pk=answered.pk, title="Sunsets").exists()


def test_the_page_carries_the_csrf_token_for_htmx(alice, chat):
    client = client_for(alice, enforce_csrf_checks=True)
    html = client.get(f"/chats/{chat.id}/").content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', html).group(1)
    response = client.post(f"/chats/{chat.id}/rename/", {"title": "With token"}, headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200


# --- Rename and delete ---


def test_rename_with_htmx_answers_the_header_and_the_sidebar_out_of_band(alice, chat):
    client = client_for(alice)
    form = client.get(f"/chats/{chat.id}/rename/", headers=HX)
    assert form.status_code == 200
    assert "<html" not in form.content.decode()
    assert 'name="title"' in form.content.decode()
    response = client.post(f"/chats/{chat.id}/rename/", {"title": "  Mountain   light "}, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="chat-title" class="chat-title">Mountain light</h1>' in html
    assert 'id="chat-list" class="chat-list" hx-swap-oob="true"' in html
    chat.refresh_from_db()
    assert chat.title == "Mountain light"


def test_rename_without_htmx_is_a_page_and_a_redirect(alice, chat):
    client = client_for(alice)
    page = client.get(f"/chats/{chat.id}/rename/")
    assert "<html" in page.content.decode()
    assert '<h1 class="visually-hidden">Rename “Sunsets”</h1>' in page.content.decode()  # named for a screen reader
    form = client.get(f"/chats/{chat.id}/rename/", headers=HX).content.decode()
    assert "<h1" not in form  # the chat page keeps its own heading
    response = client.post(f"/chats/{chat.id}/rename/", {"title": "Peaks"})
    assert response.status_code == 302 and response["Location"] == f"/chats/{chat.id}/"


def test_rename_refuses_an_empty_title(alice, chat):
    response = client_for(alice).post(f"/chats/{chat.id}/rename/", {"title": "   "}, headers=HX)
    assert response.status_code == 200
    assert "required" in response.content.decode()
    chat.refresh_from_db()
    assert chat.title == "Sunsets"


def test_delete_asks_first_then_deletes(alice, answered):
    client = client_for(alice)
    page = client.get(f"/chats/{answered.id}/delete/")
    assert page.status_code == 200
    assert "cannot be undone" in page.content.decode()
    assert Chat.objects.filter(pk=answered.pk).exists()
    response = client.post(f"/chats/{answered.id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Chat.objects.filter(pk=answered.pk).exists()


def test_delete_with_htmx_confirms_in_the_browser_and_redirects(alice, chat):
    client = client_for(alice)
    html = client.get(f"/chats/{chat.id}/").content.decode()
    assert "hx-confirm=" in html
    response = client.post(f"/chats/{chat.id}/delete/", headers=HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/"
    assert not Chat.objects.filter(pk=chat.pk).exists()


# --- Posting and streaming ---


def test_posting_answers_the_message_and_a_pending_reply_that_streams(alice, seed_catalogue):
    chat = services.chat_create(owner=alice)
    posted, stream, body = post_and_stream(alice, chat)
    assert posted.status_code == 200
    html = posted.content.decode()
    assert "<html" not in html
    assert TEXT in html
    reply = Message.objects.get(chat=chat, author_type="assistant")
    assert f'sse-connect="/messages/{reply.id}/stream/"' in html
    assert 'sse-swap="end"' in html and 'sse-close="end"' in html
    assert '<div id="empty-chat" hx-swap-oob="delete"></div>' in html
    assert 'hx-swap-oob="true">a cinematic sunset over mountains</h1>' in html  # the chat is named

    assert stream["Content-Type"] == "text/event-stream"
    events = sse_events(body)
    names = [name for name, _ in events]
    assert names[-1] == "end"
    assert "text" in names and "options" in names
    assert names.index("text") < names.index("options")
    reply.refresh_from_db()
    assert reply.status == "complete"
    last_text = [data for name, data in events if name == "text"][-1]
    assert last_text.replace("\n", "") == reply.content_text.replace("\n", "").replace("'", "&#x27;")
    final = events[-1][1]
    assert f'id="message-{reply.id}"' in final
    assert "sse-connect" not in final
    for option in reply.options.all():
        assert f'id="option-{option.id}"' in final


def test_the_streamed_reply_is_what_a_reload_shows(alice, chat):
    post_and_stream(alice, chat)
    reply = Message.objects.get(chat=chat, author_type="assistant")
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert "sse-connect" not in html
    assert all(f'id="option-{o.id}"' in html for o in reply.options.all())


def test_posting_without_htmx_redirects_to_the_chat(alice, chat):
    client = AsyncClient()
    client.force_login(alice)

    async def run():
        response = await client.post(f"/chats/{chat.id}/messages/", {"text": TEXT})
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    assert response.status_code == 302 and response["Location"] == f"/chats/{chat.id}/"
    assert Message.objects.get(chat=chat, author_type="assistant").status == "complete"


def test_an_empty_message_gets_a_message_saying_what_to_do(alice, chat):
    client = AsyncClient()
    client.force_login(alice)
    response = async_to_sync(client.post)(f"/chats/{chat.id}/messages/", {"text": "   "}, headers=HX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer-error"
    assert "Write what you would like to make, or attach an image." in response.content.decode()
    assert not Message.objects.filter(chat=chat).exists()


def test_the_first_message_of_a_new_chat_makes_the_chat(alice, seed_catalogue):
    client = AsyncClient()
    client.force_login(alice)

    async def run():
        response = await client.post("/chats/start/", {"text": TEXT}, headers=HX)
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    chat = Chat.objects.get(owner=alice)
    assert response["HX-Redirect"] == f"/chats/{chat.id}/"
    assert chat.title == TEXT
    assert chat.message_count == 2


def test_a_reply_that_is_not_pending_streams_its_end_at_once(alice, answered):
    reply = Message.objects.get(chat=answered, author_type="assistant")
    response, body = stream_of(alice, reply)
    assert response.status_code == 200
    assert [name for name, _ in sse_events(body)] == ["end"]


def test_the_reply_streams_uncached_and_unbuffered_as_the_apis_does(alice, alice_api, answered):
    reply = Message.objects.get(chat=answered, author_type="assistant")
    page, _body = stream_of(alice, reply)

    async def api_stream():
        response = await AsyncClient().post(
            f"/api/chats/{answered.id}/messages",
            {"text": TEXT},
            content_type="application/json",
            headers={"Authorization": f"Bearer {alice_api.token}", "Accept": "text/event-stream"},
        )
        await _read(response)
        await replies.replies_wait()
        return response

    api = async_to_sync(api_stream)()
    for response in (page, api):
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"


def test_a_reload_mid_reply_follows_the_saved_reply(alice, chat):
    # A pending reply this process is not writing (another process, or a restart) is followed
    # from the database; one nobody touches any more ends as failed, with Retry.
    _user_message, reply = services.message_post_begin(chat=chat, text=TEXT)
    page = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    assert f'sse-connect="/messages/{reply.id}/stream/"' in page
    Message.objects.filter(pk=reply.pk).update(
        content_text="Half a th", updated_at=timezone.now() - timedelta(seconds=3600)
    )
    _response, body = stream_of(alice, reply)
    events = sse_events(body)
    assert events[-1][0] == "end"
    assert "interrupted" in events[-1][1]
    assert f'hx-post="/messages/{reply.id}/retry/"' in events[-1][1]


def test_a_failed_reply_shows_the_reason_and_retries(alice, answered):
    reply = Message.objects.get(chat=answered, author_type="assistant")
    Option.objects.filter(message=reply).delete()
    Message.objects.filter(pk=reply.pk).update(status="failed", error="The model was down.")
    html = client_for(alice).get(f"/chats/{answered.id}/").content.decode()
    assert "The model was down." in html
    client = AsyncClient()
    client.force_login(alice)

    async def run():
        response = await client.post(f"/messages/{reply.id}/retry/", headers=HX)
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    assert response.status_code == 200
    assert f'sse-connect="/messages/{reply.id}/stream/"' in response.content.decode()
    reply.refresh_from_db()
    assert reply.status == "complete"
    assert reply.options.count() >= 2


# --- Serving ---


def test_pages_have_a_content_security_policy_and_no_inline_script(alice, answered):
    response = client_for(alice).get(f"/chats/{answered.id}/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert " style=" not in html
    # Scripts and styles come from our own origin, never from a third-party CDN.
    loaded, foreign = foreign_sources(html)
    assert len(loaded) >= 4 and not foreign, loaded


def test_htmx_its_sse_extension_and_our_files_are_served_from_our_static_files(alice, chat):
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    # Collected static files carry a content hash in their names (app.<hash>.js).
    unhashed = [re.sub(r"\.[0-9a-f]{12}(\.(?:min\.)?(?:js|css))$", r"\1", path) for path in scripts]
    assert unhashed == [
        "/static/django_htmx/htmx-2.min.js",
        "/static/django_htmx/ext/hx-sse-2.min.js",
        "/static/js/app.js",
        "/static/css/app.css",
    ]
    for path in scripts:
        assert Client().get(path).status_code == 200, path
