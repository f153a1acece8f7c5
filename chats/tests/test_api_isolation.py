"""Every object is reachable by its owner alone: another person's chat, message or option is a 404."""

import pytest

from chats.models import Chat, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_chat(alice_api, seed_catalogue):
    chat = alice_api.post("/api/chats", {"title": "Private"}).json()
    reply = alice_api.post(f"/api/chats/{chat['id']}/messages", {"text": "a neon city in the rain"}).json()
    return chat, reply["message"]


def test_bob_cannot_read_alices_chat(bob_api, alices_chat):
    chat, _ = alices_chat
    assert bob_api.get(f"/api/chats/{chat['id']}").status_code == 404


def test_bob_cannot_list_alices_messages(bob_api, alices_chat):
    chat, _ = alices_chat
    assert bob_api.get(f"/api/chats/{chat['id']}/messages").status_code == 404


def test_bob_cannot_post_into_alices_chat(bob_api, alices_chat):
    chat, _ = alices_chat
    response = bob_api.post(f"/api/chats/{chat['id']}/messages", {"text": "hello"})
    assert response.status_code == 404
    assert Message.objects.filter(chat_id=chat["id"]).count() == 2


def test_bob_cannot_rename_or_delete_alices_chat(bob_api, alices_chat):
    chat, _ = alices_chat
    assert bob_api.patch(f"/api/chats/{chat['id']}", {"title": "mine"}).status_code == 404
    assert bob_api.delete(f"/api/chats/{chat['id']}").status_code == 404
    assert Chat.objects.get(pk=chat["id"]).title == "Private"


def test_bob_cannot_read_the_options_of_alices_reply(bob_api, alice_api, alices_chat):
    _, reply = alices_chat
    assert alice_api.get(f"/api/messages/{reply['id']}/options").status_code == 200
    assert bob_api.get(f"/api/messages/{reply['id']}/options").status_code == 404


def test_bobs_list_does_not_show_alices_chats(bob_api, alices_chat):
    body = bob_api.get("/api/chats").json()
    assert body["items"] == []
