"""Staff see people, chats, messages, options, attachments and tokens in admin; others do not."""

import pytest
from django.test import Client

from chats import services
from chats.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, seed_catalogue):
    chat = services.chat_create(owner=alice, title="Admin view")
    reply = services.message_post(chat=chat, text="a cinematic sunset over mountains")
    return chat, reply


@pytest.mark.parametrize("model", ["user", "chat", "message", "option", "attachment", "apitoken"])
def test_staff_see_every_changelist(admin_client, conversation, model):
    response = admin_client.get(f"/admin/chats/{model}/")
    assert response.status_code == 200


def test_staff_see_a_chat_with_its_messages(admin_client, conversation):
    chat, reply = conversation
    response = admin_client.get(f"/admin/chats/chat/{chat.pk}/change/")
    assert response.status_code == 200
    assert "a cinematic sunset over mountains" in response.content.decode()


def test_staff_see_a_reply_with_its_options(admin_client, conversation):
    _, reply = conversation
    response = admin_client.get(f"/admin/chats/message/{reply.pk}/change/")
    assert response.status_code == 200
    assert reply.options.first().model_key in response.content.decode()


def test_a_person_who_is_not_staff_is_sent_to_log_in(alice, conversation):
    client = Client()
    client.force_login(alice)
    response = client.get("/admin/chats/chat/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_token_made_in_admin_is_shown_once_and_works(admin_client, alice):
    response = admin_client.post("/admin/chats/apitoken/add/", {"user": alice.pk, "name": "from admin"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    raw = html.split('id="api-token"')[1].split(">", 1)[1].split("<", 1)[0]
    assert raw.startswith("hgs_")
    token = ApiToken.objects.get(name="from admin")
    assert raw not in (token.key_hash, token.prefix)
    assert Client().get("/api/chats", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    # Later pages never show it again.
    assert raw not in admin_client.get(f"/admin/chats/apitoken/{token.pk}/change/").content.decode()
    assert raw not in admin_client.get("/admin/chats/apitoken/").content.decode()
