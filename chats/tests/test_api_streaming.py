"""Replies stream as server-sent events, are saved as they grow, and survive a client that leaves."""

import asyncio
import threading
from datetime import timedelta
from functools import partial

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.test import AsyncClient

from chats import replies, services
from chats.models import Message, Option
from conftest import parse_sse

pytestmark = pytest.mark.django_db

TEXT = "a cinematic sunset over mountains"


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Streams")


def auth(api):
    return {"Authorization": f"Bearer {api.token}"}


async def _collect(response, stop_after=None):
    body = ""
    async for chunk in response.streaming_content:
        body += chunk.decode() if isinstance(chunk, bytes) else chunk
        if stop_after and body.count("\n\n") >= stop_after:
            await response.streaming_content.aclose()
            break
    return body


def post_stream(api, chat, text=TEXT, stop_after=None, path=None):
    async def run():
        client = AsyncClient()
        response = await client.post(
            path or f"/api/chats/{chat.id}/messages",
            {"text": text},
            content_type="application/json",
            headers={**auth(api), "Accept": "text/event-stream"},
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        body = await _collect(response, stop_after)
        await replies.replies_wait()
        return body

    return async_to_sync(run)()


def test_a_streamed_reply_sends_message_deltas_options_and_done_in_order(alice_api, chat):
    events = parse_sse(post_stream(alice_api, chat))
    names = [name for name, _ in events]
    assert names[0] == "message"
    assert names[-1] == "done"
    assert "delta" in names
    options = [data for name, data in events if name == "option"]
    assert 2 <= len(options) <= 4
    assert names.index("delta") < names.index("option")

    first = events[0][1]
    assert first["message"]["author_type"] == "user"
    assert first["message"]["content_text"] == TEXT
    assert first["reply"]["status"] == "pending"

    done = events[-1][1]["message"]
    assert done["status"] == "complete"
    assert done["content_text"] == "".join(d["text"] for n, d in events if n == "delta")
    assert [c["option_id"] for c in done["render_payload"] if c["type"] == "button"] == [o["id"] for o in options]


def test_the_streamed_reply_is_what_a_later_load_shows(alice_api, chat):
    events = parse_sse(post_stream(alice_api, chat))
    done = events[-1][1]["message"]
    listed = alice_api.get(f"/api/chats/{chat.id}/messages").json()["items"]
    assert [m["author_type"] for m in listed] == ["user", "assistant"]
    assert listed[1] == done


def test_a_client_that_disconnects_mid_reply_loses_nothing(alice_api, chat):
    body = post_stream(alice_api, chat, stop_after=1)
    assert [name for name, _ in parse_sse(body)] == ["message"]
    reply = Message.objects.get(chat=chat, author_type="assistant")
    assert reply.status == Message.Status.COMPLETE
    assert reply.content_text
    assert Option.objects.filter(message=reply).count() >= 2
    listed = alice_api.get(f"/api/chats/{chat.id}/messages").json()["items"]
    assert listed[1]["status"] == "complete"


def test_without_the_stream_header_the_answer_is_the_contracts_201(alice_api, chat):
    response = alice_api.post(f"/api/chats/{chat.id}/messages", {"text": TEXT})
    assert response.status_code == 201
    assert response.json()["message"]["status"] == "complete"


def test_a_failed_reply_can_be_retried_and_completes(alice, alice_api, chat):
    reply = services.message_post(chat=chat, text=TEXT)
    reply.options.all().delete()
    Message.objects.filter(pk=reply.pk).update(status="failed", error="The model was down.", content_text="x")
    response = alice_api.post(f"/api/messages/{reply.id}/retry")
    assert response.status_code == 200
    message = response.json()["message"]
    assert message["id"] == str(reply.id)
    assert message["status"] == "complete"
    assert message["error"] is None
    assert len(alice_api.get(f"/api/messages/{reply.id}/options").json()) >= 2
    assert alice_api.get(f"/api/chats/{chat.id}").json()["message_count"] == 2


def test_retry_can_stream_too(alice_api, chat):
    reply = services.message_post(chat=chat, text=TEXT)
    Message.objects.filter(pk=reply.pk).update(status="failed", error="down")
    events = parse_sse(post_stream(alice_api, chat, path=f"/api/messages/{reply.id}/retry"))
    assert events[-1][0] == "done"
    assert Option.objects.filter(message=reply).count() == len([1 for n, _ in events if n == "option"])


def test_a_complete_reply_or_a_user_message_cannot_be_retried(alice_api, chat):
    reply = services.message_post(chat=chat, text=TEXT)
    assert alice_api.post(f"/api/messages/{reply.id}/retry").status_code == 422
    user_message = Message.objects.get(chat=chat, author_type="user")
    assert alice_api.post(f"/api/messages/{user_message.id}/retry").status_code == 422
    assert reply.options.count() >= 2


def test_another_persons_reply_cannot_be_retried(bob_api, chat):
    reply = services.message_post(chat=chat, text=TEXT)
    Message.objects.filter(pk=reply.pk).update(status="failed")
    assert bob_api.post(f"/api/messages/{reply.id}/retry").status_code == 404
    assert Message.objects.get(pk=reply.pk).status == "failed"


def test_a_reply_interrupted_by_a_restart_shows_as_failed_and_can_be_retried(alice_api, chat, settings):
    user_message, reply = services.message_post_begin(chat=chat, text=TEXT)
    old = reply.updated_at - timedelta(seconds=settings.RECOMMENDER_REPLY_STALE_SECONDS + 5)
    Message.objects.filter(pk=reply.pk).update(updated_at=old)
    listed = alice_api.get(f"/api/chats/{chat.id}/messages").json()["items"]
    assert listed[1]["status"] == "failed"
    assert "interrupted" in listed[1]["error"]
    response = alice_api.post(f"/api/messages/{reply.id}/retry")
    assert response.json()["message"]["status"] == "complete"


@pytest.mark.django_db(transaction=True)
# The writer never ran: its loop closed first, as the test means it to.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_waiting_for_replies_is_not_held_up_by_a_reply_whose_event_loop_closed(chat):
    # A reply started in an event loop that closed before its writer ran (a worker's at shutdown, a test
    # client's): nobody will ever end it there, and waiting for this loop's replies must not wait for it.
    old_loop = asyncio.new_event_loop()

    async def post_and_stop():
        posted = await replies.reply_post(begin=partial(services.message_post_begin, chat=chat, text=TEXT))
        asyncio.get_running_loop().stop()
        return posted

    posting = old_loop.create_task(post_and_stop())
    old_loop.run_forever()
    old_loop.close()
    assert posting.done() and not posting.result().task.done()

    waiter = threading.Thread(target=lambda: asyncio.run(replies.replies_wait()), daemon=True)
    waiter.start()
    waiter.join(5)
    assert not waiter.is_alive(), "replies_wait waited for a reply of a closed event loop"
    # The post's step ran in asgiref's own thread, outside any request: its connection is closed as a request's is.
    asyncio.run(sync_to_async(connections.close_all)())
