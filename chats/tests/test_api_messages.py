"""Messages and options: posting gets the saved reply, the list is oldest first and pages."""

import pytest

from chats.models import Chat, Message, Option
from generation.model_schema import parameters_check, parameters_schema
from generation.models import GenerationModel, Motion, Style

pytestmark = pytest.mark.django_db

MESSAGE_KEYS = {"id", "chat_id", "author_type", "content_text", "render_payload", "attachments", "created_at"}
# The contract's fields, unchanged, and ours beyond it: `parameters`.
CONTRACT_OPTION_KEYS = {
    "id",
    "message_id",
    "tool_type",
    "style_id",
    "model_key",
    "enhanced_prompt",
    "reason",
    "result_url",
    "created_at",
}
OPTION_KEYS = CONTRACT_OPTION_KEYS | {"parameters"}


@pytest.fixture
def chat(alice_api, seed_catalogue):
    return alice_api.post("/api/chats", {"title": "Ideas"}).json()


def post(api, chat, text, **extra):
    return api.post(f"/api/chats/{chat['id']}/messages", {"text": text, **extra})


def test_posting_answers_201_with_the_saved_assistant_reply(alice_api, chat):
    response = post(alice_api, chat, "a cinematic sunset over mountains")
    assert response.status_code == 201
    message = response.json()["message"]
    assert MESSAGE_KEYS <= set(message)
    assert message["author_type"] == "assistant"
    assert message["chat_id"] == chat["id"]
    assert message["content_text"]
    assert message["status"] == "complete"
    assert message["recommender"] == "offline"
    assert Message.objects.get(pk=message["id"]).status == Message.Status.COMPLETE


def test_the_reply_carries_a_button_per_option(alice_api, chat):
    message = post(alice_api, chat, "a cinematic sunset over mountains").json()["message"]
    buttons = [c for c in message["render_payload"] if c["type"] == "button"]
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert 2 <= len(options) <= 4
    assert [b["option_id"] for b in buttons] == [o["id"] for o in options]
    for button, option in zip(buttons, options, strict=True):
        assert set(button) == {"type", "label", "option_id", "model"}
        assert button["model"] == option["model_key"]
        assert button["label"]


def test_options_name_real_catalogue_entries_and_models(alice_api, chat):
    message = post(alice_api, chat, "a cinematic sunset over mountains").json()["message"]
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    for option in options:
        assert set(option) == OPTION_KEYS
        assert option["message_id"] == message["id"]
        model = GenerationModel.objects.get(name=option["model_key"], enabled=True)
        assert model.kind == option["tool_type"]
        assert option["result_url"] is None
        assert len(option["enhanced_prompt"].split()) >= 100
        assert option["reason"]
        entries = Style if option["tool_type"] == "text_to_image" else Motion
        assert entries.objects.filter(pk=option["style_id"], enabled=True).exists()


def test_each_option_carries_parameters_its_model_accepts(alice_api, chat):
    message = post(alice_api, chat, "a cinematic sunset over mountains").json()["message"]
    for option in alice_api.get(f"/api/messages/{message['id']}/options").json():
        assert isinstance(option["parameters"], dict)
        model = GenerationModel.objects.get(name=option["model_key"])
        assert parameters_check(parameters_schema(model.input_schema), option["parameters"], label=model.label)
        assert option["parameters"] == Option.objects.get(pk=option["id"]).parameters


def test_the_parameters_follow_the_format_and_length_asked_for(alice_api, chat):
    message = post(alice_api, chat, "a lighthouse on a cliff at dawn, slow push-in, vertical, 10 seconds").json()[
        "message"
    ]
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert options and {o["tool_type"] for o in options} == {"text_to_video"}
    first = options[0]
    # The model that can do both comes first, and its option says so.
    assert first["parameters"] == {"aspect_ratio": "9:16", "duration": 10}
    assert "9:16" in first["reason"] and "10 seconds" in first["reason"]
    for option in options:
        model = GenerationModel.objects.get(name=option["model_key"])
        parameters_check(parameters_schema(model.input_schema), option["parameters"], label=model.label)


def test_the_options_stream_carries_the_parameters_too(alice_api, chat):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from chats import replies
    from conftest import parse_sse

    async def run():
        response = await AsyncClient().post(
            f"/api/chats/{chat['id']}/messages",
            {"text": "a red fox in fresh snow, square format"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {alice_api.token}", "Accept": "text/event-stream"},
        )
        body = "".join([chunk.decode() async for chunk in response.streaming_content])
        await replies.replies_wait()
        return body

    options = [data for name, data in parse_sse(async_to_sync(run)()) if name == "option"]
    assert options and all(o["parameters"]["aspect_ratio"] == "1:1" for o in options)


def test_a_following_get_shows_the_users_message_then_the_reply(alice_api, chat):
    reply = post(alice_api, chat, "a cinematic sunset over mountains").json()["message"]
    body = alice_api.get(f"/api/chats/{chat['id']}/messages").json()
    assert [m["author_type"] for m in body["items"]] == ["user", "assistant"]
    assert body["items"][0]["content_text"] == "a cinematic sunset over mountains"
    assert body["items"][1]["id"] == reply["id"]
    assert body["items"][1]["render_payload"] == reply["render_payload"]
    assert body["has_more"] is False


def test_the_chat_counts_every_message_right_after_a_post(alice_api, chat):
    post(alice_api, chat, "a cinematic sunset over mountains")
    post(alice_api, chat, "now make it darker")
    listed = alice_api.get("/api/chats?limit=10").json()["items"][0]
    assert listed["message_count"] == 4
    assert alice_api.get(f"/api/chats/{chat['id']}").json()["message_count"] == 4


def test_messages_come_oldest_first_and_page_with_after(alice_api, chat):
    texts = [f"idea number {i}: a lighthouse in a storm" for i in range(13)]
    for text in texts:
        post(alice_api, chat, text)
    seen, after = [], None
    while True:
        url = f"/api/chats/{chat['id']}/messages?limit=5" + (f"&after={after}" if after else "")
        body = alice_api.get(url).json()
        seen += body["items"]
        if not body["has_more"]:
            break
        after = body["next_cursor"]
    assert len(seen) == 26
    assert len({m["id"] for m in seen}) == 26
    assert [m["content_text"] for m in seen if m["author_type"] == "user"] == texts
    assert [m["created_at"] for m in seen] == sorted(m["created_at"] for m in seen)


def test_an_empty_message_is_refused_and_nothing_is_saved(alice_api, chat):
    for payload in ({"text": ""}, {"text": "   "}, {"text": None}, {}):
        response = alice_api.post(f"/api/chats/{chat['id']}/messages", payload)
        assert response.status_code == 422, payload
        assert response.json()["detail"]
    assert Message.objects.count() == 0
    assert Chat.objects.get(pk=chat["id"]).message_count == 0


def test_an_unknown_attachment_is_refused_and_nothing_is_saved(alice_api, chat):
    response = post(alice_api, chat, "animate this", attachments=["http://localhost:8000/media/nope.png"])
    assert response.status_code == 422
    assert "attachment" in response.json()["detail"].lower()
    assert Message.objects.count() == 0


@pytest.mark.parametrize("payload", [{"text": 12}, {"text": "x", "attachments": "one"}, {"text": "x", "extra": 1}])
def test_wrong_types_are_refused(alice_api, chat, payload):
    response = alice_api.post(f"/api/chats/{chat['id']}/messages", payload)
    assert response.status_code == 422
    assert Message.objects.count() == 0


def test_a_vague_hello_gets_a_question_back_and_no_options(alice_api, chat):
    message = post(alice_api, chat, "hi").json()["message"]
    assert "?" in message["content_text"]
    assert alice_api.get(f"/api/messages/{message['id']}/options").json() == []


def test_options_of_a_message_without_any_are_an_empty_list(alice_api, chat):
    post(alice_api, chat, "a cinematic sunset over mountains")
    user_message = alice_api.get(f"/api/chats/{chat['id']}/messages").json()["items"][0]
    response = alice_api.get(f"/api/messages/{user_message['id']}/options")
    assert response.status_code == 200
    assert response.json() == []


def test_a_malformed_after_cursor_is_a_400(alice_api, chat):
    response = alice_api.get(f"/api/chats/{chat['id']}/messages?after=zzz")
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_deleting_a_chat_takes_its_messages_and_options(alice_api, chat):
    post(alice_api, chat, "a cinematic sunset over mountains")
    assert Option.objects.exists()
    alice_api.delete(f"/api/chats/{chat['id']}")
    assert not Message.objects.exists()
    assert not Option.objects.exists()


def test_a_preferred_mode_and_model_shape_the_options(alice_api, chat):
    response = post(alice_api, chat, "a red fox in fresh snow", mode="text-to-video", model_name="seedance-v1-lite-t2v")
    assert response.status_code == 201
    options = alice_api.get(f"/api/messages/{response.json()['message']['id']}/options").json()
    assert options and {(o["tool_type"], o["model_key"]) for o in options} == {
        ("text_to_video", "seedance-v1-lite-t2v")
    }


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"mode": "text-to-image", "model_name": "kling-2-5"}, "not text-to-image"),
        ({"mode": "image-to-video"}, "needs an image"),
        ({"model_name": "no-such-model"}, "Unknown model"),
    ],
)
def test_an_impossible_preference_is_a_422_that_says_why_and_saves_nothing(alice_api, chat, extra, why):
    response = post(alice_api, chat, "a red fox in fresh snow", **extra)
    assert response.status_code == 422
    assert why in response.json()["detail"]
    assert Chat.objects.get(pk=chat["id"]).message_count == 0
