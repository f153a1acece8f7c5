"""Pages and API answers are compressed for browsers that accept gzip; streams are not held back."""

import gzip

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from chats import services

pytestmark = pytest.mark.django_db

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def test_a_chat_page_is_sent_gzipped_when_the_browser_accepts_it(alice, seed_catalogue):
    chat = services.chat_create(owner=alice, title="Compressed")
    services.message_post(chat=chat, text="a cinematic sunset over mountains")
    client = Client()
    client.force_login(alice)
    response = client.get(f"/chats/{chat.id}/", headers=GZIP)
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    html = gzip.decompress(response.content).decode()
    assert "a cinematic sunset over mountains" in html
    plain = client.get(f"/chats/{chat.id}/")
    assert not plain.has_header("Content-Encoding")


def test_the_api_is_gzipped_too(alice_api):
    for number in range(30):
        alice_api.post("/api/chats", {"title": f"Chat {number}"})
    response = alice_api.get("/api/chats?limit=30", headers=GZIP)
    assert response["Content-Encoding"] == "gzip"


def test_a_reply_stream_is_not_compressed(alice, seed_catalogue):
    chat = services.chat_create(owner=alice, title="Streams")
    reply = services.message_post(chat=chat, text="a red fox in fresh snow")
    client = AsyncClient()
    client.force_login(alice)
    response = async_to_sync(client.get)(f"/messages/{reply.id}/stream/", headers=GZIP)
    assert response["Content-Type"] == "text/event-stream"
    assert not response.has_header("Content-Encoding")
