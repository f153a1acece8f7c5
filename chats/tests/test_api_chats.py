"""The chat routes of the contract: create, list (paged), read, rename, delete."""

import uuid

import pytest

from chats.models import Chat

pytestmark = pytest.mark.django_db

CHAT_KEYS = {"id", "user_id", "title", "message_count", "last_message_at", "created_at"}


def test_it_creates_a_chat_and_answers_the_bare_chat(alice, alice_api):
    response = alice_api.post("/api/chats", {"title": "Sunsets"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == CHAT_KEYS
    assert body["title"] == "Sunsets"
    assert body["user_id"] == str(alice.id)
    assert body["message_count"] == 0
    assert body["last_message_at"] is None
    assert Chat.objects.get(pk=body["id"]).owner == alice


@pytest.mark.parametrize("payload", [{"title": None}, {}, {"title": "   "}])
def test_a_chat_without_a_title_gets_a_default_one(alice_api, payload):
    response = alice_api.post("/api/chats", payload)
    assert response.status_code == 201
    assert response.json()["title"] == "New chat"


def test_the_first_message_names_an_untitled_chat(alice_api, seed_catalogue):
    chat = alice_api.post("/api/chats", {"title": None}).json()
    alice_api.post(f"/api/chats/{chat['id']}/messages", {"text": "a cinematic sunset over mountains"})
    assert alice_api.get(f"/api/chats/{chat['id']}").json()["title"] == "a cinematic sunset over mountains"


def test_it_reads_one_chat(alice_api):
    chat = alice_api.post("/api/chats", {"title": "One"}).json()
    response = alice_api.get(f"/api/chats/{chat['id']}")
    assert response.status_code == 200
    assert response.json() == chat


def test_it_renames_a_chat_and_wraps_it(alice_api):
    chat = alice_api.post("/api/chats", {"title": "Old"}).json()
    response = alice_api.patch(f"/api/chats/{chat['id']}", {"title": "  New   name "})
    assert response.status_code == 200
    assert set(response.json()) == {"chat"}
    assert response.json()["chat"]["title"] == "New name"
    assert alice_api.get(f"/api/chats/{chat['id']}").json()["title"] == "New name"


def test_it_refuses_an_empty_rename_and_keeps_the_title(alice_api):
    chat = alice_api.post("/api/chats", {"title": "Keep"}).json()
    for payload in ({"title": ""}, {"title": "   "}, {}, {"title": None}):
        response = alice_api.patch(f"/api/chats/{chat['id']}", payload)
        assert response.status_code in (400, 422), payload
        assert "detail" in response.json()
    assert alice_api.get(f"/api/chats/{chat['id']}").json()["title"] == "Keep"


def test_it_deletes_a_chat_with_a_json_answer(alice_api):
    chat = alice_api.post("/api/chats", {"title": "Gone"}).json()
    response = alice_api.delete(f"/api/chats/{chat['id']}")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert alice_api.get(f"/api/chats/{chat['id']}").status_code == 404
    assert alice_api.delete(f"/api/chats/{chat['id']}").status_code == 404


def test_the_list_puts_the_newest_chat_first(alice_api):
    ids = [alice_api.post("/api/chats", {"title": f"c{i}"}).json()["id"] for i in range(3)]
    body = alice_api.get("/api/chats?limit=10").json()
    assert [c["id"] for c in body["items"]] == list(reversed(ids))
    assert body["has_more"] is False
    assert body["next_cursor"] is None


def test_a_chat_with_a_new_message_moves_to_the_top(alice_api, seed_catalogue):
    first = alice_api.post("/api/chats", {"title": "first"}).json()
    alice_api.post("/api/chats", {"title": "second"})
    alice_api.post(f"/api/chats/{first['id']}/messages", {"text": "a foggy harbour at dawn"})
    items = alice_api.get("/api/chats?limit=10").json()["items"]
    assert items[0]["id"] == first["id"]
    assert items[0]["message_count"] == 2
    assert items[0]["last_message_at"] is not None
    # Each listed chat is the chat as its own route answers it, key for key.
    for item in items:
        assert set(item) == CHAT_KEYS
        assert item == alice_api.get(f"/api/chats/{item['id']}").json()


def test_paging_forward_through_27_chats_has_no_duplicates_and_no_gaps(alice_api):
    created = [alice_api.post("/api/chats", {"title": f"chat {i}"}).json()["id"] for i in range(27)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/chats?limit=10" + (f"&cursor={cursor}" if cursor else "")
        body = alice_api.get(url).json()
        pages += 1
        seen += [c["id"] for c in body["items"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        assert len(body["items"]) == 10
        cursor = body["next_cursor"]
    assert pages == 3
    assert seen == list(reversed(created))


def test_paging_is_stable_when_chats_are_created_between_pages(alice_api):
    created = [alice_api.post("/api/chats", {"title": f"chat {i}"}).json()["id"] for i in range(12)]
    page1 = alice_api.get("/api/chats?limit=5").json()
    alice_api.post("/api/chats", {"title": "late arrival"})
    page2 = alice_api.get(f"/api/chats?limit=5&cursor={page1['next_cursor']}").json()
    page3 = alice_api.get(f"/api/chats?limit=5&cursor={page2['next_cursor']}").json()
    seen = [c["id"] for page in (page1, page2, page3) for c in page["items"]]
    assert seen == list(reversed(created))


@pytest.mark.parametrize("limit", ["0", "-1", "101", "many"])
def test_the_list_refuses_a_limit_out_of_bounds(alice_api, limit):
    response = alice_api.get(f"/api/chats?limit={limit}")
    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJtZXNzYWdlcyIsIDFd", "%00", "eyJhIjogMX0"])
def test_the_list_refuses_a_malformed_cursor_with_a_clear_error(alice_api, cursor):
    alice_api.post("/api/chats", {"title": "x"})
    response = alice_api.get(f"/api/chats?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_a_title_of_ten_megabytes_is_refused_and_nothing_is_saved(alice_api):
    response = alice_api.post("/api/chats", {"title": "x" * (10 * 1024 * 1024)})
    assert response.status_code in (413, 422)
    assert "detail" in response.json()
    assert Chat.objects.count() == 0


def test_a_title_over_200_characters_is_refused(alice_api):
    response = alice_api.post("/api/chats", {"title": "x" * 201})
    assert response.status_code == 422
    assert Chat.objects.count() == 0


@pytest.mark.parametrize("payload", [{"title": 5}, {"title": ["a"]}, {"title": "ok", "owner": "me"}])
def test_it_refuses_wrong_types_and_unknown_fields(alice_api, payload):
    response = alice_api.post("/api/chats", payload)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert Chat.objects.count() == 0


def test_it_refuses_a_body_that_is_not_json(alice_api):
    response = alice_api.generic(
        "POST",
        "/api/chats",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {alice_api.token}"},
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_non_uuid_id_is_a_clear_4xx(alice_api):
    response = alice_api.get("/api/chats/not-a-uuid")
    assert response.status_code in (404, 422)
    assert "detail" in response.json()


def test_an_unknown_chat_is_a_404(alice_api):
    response = alice_api.get(f"/api/chats/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["detail"]
