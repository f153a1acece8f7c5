"""A misbehaving Claude (limits that never lift, a proxy's error page, slow or cut streams) fails replies cleanly.

Each failure leaves a failed reply with a reason in plain words, a streamed one ends with an `error` event,
and nothing stays pending. The faults already covered in test_agent.py (a few 529/429 then success, 500s
until the retries run out, a slow first answer, invalid JSON, a stream cut after an option) are not
repeated here.
"""

import pytest

from chats import services
from chats.models import Message, Option
from chats.tests.test_api_streaming import post_stream
from conftest import parse_sse
from recommender.tests.fake_anthropic import error, garbage, reply, text

pytestmark = pytest.mark.django_db

PROSE = "Three ways to frame that sunset, each with a different look."


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Faults")


def post(api, chat, message="a cinematic sunset over mountains"):
    response = api.post(f"/api/chats/{chat.id}/messages", {"text": message})
    assert response.status_code == 201, response.content
    return response.json()["message"]


def assert_nothing_pending():
    assert not Message.objects.filter(status=Message.Status.PENDING).exists()


def test_a_rate_limit_that_never_lifts_fails_the_reply_with_a_reason(claude, alice_api, chat):
    claude.script(*[error(429, headers={"retry-after-ms": "10"}) for _ in range(3)])
    message = post(alice_api, chat)
    assert claude.request_count == 3
    assert message["status"] == "failed"
    assert message["error"]
    assert not Option.objects.exists()
    assert_nothing_pending()


def test_a_proxys_html_error_page_fails_the_reply_without_a_500(claude, alice_api, chat):
    page = garbage(b"<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html")
    claude.script(page, page, page)
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert message["error"]
    assert "<html>" not in message["error"]
    assert_nothing_pending()


def test_a_stream_that_stalls_between_chunks_times_out_into_a_failure(claude, alice_api, chat, settings):
    settings.ANTHROPIC_TIMEOUT = 0.5
    settings.ANTHROPIC_MAX_RETRIES = 0
    claude.script(reply(text(PROSE), chunk_delay=2))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert message["error"]
    assert_nothing_pending()


def test_a_stream_cut_before_anything_useful_ends_the_streamed_reply_with_an_error_event(claude, alice_api, chat):
    claude.script(*[reply(text(PROSE), hang_up_after=1) for _ in range(3)])
    events = parse_sse(post_stream(alice_api, chat, text="a rainy street at night"))
    assert [name for name, _ in events][0] == "message"
    name, data = events[-1]
    assert name == "error"
    assert data["detail"]
    assert data["message"]["status"] == "failed"
    assert Message.objects.get(pk=data["message"]["id"]).status == Message.Status.FAILED
    assert_nothing_pending()


def test_a_reply_that_failed_on_garbage_can_be_retried_once_claude_is_back(claude, alice_api, chat):
    claude.script(garbage(b"\x00\xff not json at all"))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    claude.script(reply(text("A sunset, plainly.")))
    retried = alice_api.post(f"/api/messages/{message['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["message"]["status"] in ("complete", "failed")
    assert_nothing_pending()
