"""The Claude agent, end to end through the API, against our fake Anthropic server on loopback."""

import json

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.test import AsyncClient

from chats import replies, services
from chats.models import Attachment, Message, Option
from conftest import parse_sse
from generation.models import Motion, Style
from recommender.tests.fake_anthropic import error, garbage, reply, text, tool_use

pytestmark = pytest.mark.django_db

PROSE = "Three ways to frame that sunset, each with a different look."


def brief(words=180, subject="a cinematic sunset over jagged mountains"):
    filler = (
        "Warm amber light rakes across the ridgelines while long violet shadows pool in the valleys below, "
        "shot on a wide anamorphic lens with soft haze and fine film grain throughout the frame"
    ).split()
    body = [subject] + [filler[i % len(filler)] for i in range(words - len(subject.split()))]
    return " ".join(body)


def option(
    ref,
    kind="text_to_image",
    model="soul",
    prompt=None,
    reason="It fits the warm, epic mood you described.",
    parameters=None,
):
    given = {"kind": kind, "model": model, "ref": ref, "prompt": prompt or brief(), "reason": reason}
    if parameters is not None:
        given["parameters"] = parameters
    return tool_use("add_option", given)


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Agent")


def post(api, chat, message="a cinematic sunset over mountains", **extra):
    response = api.post(f"/api/chats/{chat.id}/messages", {"text": message, **extra})
    assert response.status_code == 201, response.content
    return response.json()["message"]


def styles_by_ref():
    return {f"S{i}": s for i, s in enumerate(Style.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}


def motions_by_ref():
    return {f"M{i}": m for i, m in enumerate(Motion.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}


def tool_results(request):
    last = request.body["messages"][-1]
    return [block for block in last["content"] if isinstance(block, dict) and block.get("type") == "tool_result"]


def test_two_good_options_beside_a_refused_one_end_the_reply_without_another_call(claude, alice_api, chat):
    claude.script(reply(text(PROSE), option("S1"), option("S999"), option("S2", model="flux-kontext")))
    message = post(alice_api, chat)
    assert message["status"] == "complete"
    assert claude.request_count == 1
    assert Option.objects.filter(message_id=message["id"]).count() == 2


def test_a_normal_reply_is_prose_and_validated_options_in_one_call(claude, alice_api, chat):
    claude.script(
        reply(text(PROSE), option("S1"), option("S2", model="flux-kontext"), option("S3", model="nano-banana"))
    )
    message = post(alice_api, chat)
    assert message["status"] == "complete"
    assert message["recommender"] == "claude"
    assert message["content_text"] == PROSE
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    refs = styles_by_ref()
    assert [o["style_id"] for o in options] == [str(refs[r].id) for r in ("S1", "S2", "S3")]
    assert [o["model_key"] for o in options] == ["soul", "flux-kontext", "nano-banana"]
    assert claude.request_count == 1


def test_the_request_is_one_tool_and_a_cached_catalogue(claude, alice_api, chat):
    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat)
    body = claude.last_request.body
    assert body["stream"] is True
    assert body["model"] == "claude-haiku-5-5"
    assert [tool["name"] for tool in body["tools"]] == ["add_option"]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    catalogue = body["system"][-1]["text"]
    assert "S106 | " in catalogue and "M121 | " in catalogue
    assert claude.last_request.body_size < 60_000


def test_the_agent_offers_only_enabled_models_and_its_cached_prefix_changes_only_with_them(claude, alice_api, chat):
    from generation.models import GenerationModel

    def prefix():
        body = claude.last_request.body
        return json.dumps([body["tools"], body["system"]], sort_keys=True)

    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat)
    first = prefix()
    offered = claude.last_request.body["tools"][0]["input_schema"]["properties"]["model"]["enum"]
    assert set(offered) <= set(GenerationModel.objects.filter(enabled=True).values_list("name", flat=True))
    assert "reve" in offered and "kling-video-v2-1-master-text-to-video" not in offered

    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat, "a red fox in the snow")
    assert prefix() == first  # same table, same prefix: the cache holds

    GenerationModel.objects.filter(name="reve").update(enabled=False)
    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat, "a blue whale at sea")
    assert prefix() != first
    assert "reve" not in claude.last_request.body["tools"][0]["input_schema"]["properties"]["model"]["enum"]


def test_a_vague_request_gets_the_clarifying_question_kept(claude, alice_api, chat):
    claude.script(reply(text("Happy to help! What would you like to see: a place, a person, a product?")))
    message = post(alice_api, chat, "hmm")
    assert message["status"] == "complete"
    assert message["content_text"].startswith("Happy to help!")
    assert alice_api.get(f"/api/messages/{message['id']}/options").json() == []


def test_an_invented_style_is_refused_back_and_the_correction_is_kept(claude, alice_api, chat):
    claude.script(
        reply(text(PROSE), option("S1"), option("S999", model="flux-kontext")),
        reply(option("S5", model="flux-kontext")),
    )
    message = post(alice_api, chat)
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    refs = styles_by_ref()
    assert [o["style_id"] for o in options] == [str(refs[r].id) for r in ("S1", "S5")]
    assert claude.request_count == 2
    results = tool_results(claude.last_request)
    refused = [r for r in results if r.get("is_error")]
    assert len(refused) == 1 and "'S999' is not an image style reference" in refused[0]["content"]
    assert message["content_text"] == PROSE


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (option("S1", prompt="too short a prompt"), "The prompt has 4 words"),
        (option("S1", prompt=brief(words=320)), "The prompt has 320 words"),
        (option("M1"), "not an image style reference"),
        (option("S1", model="kling-2-5"), "does not do text_to_image"),
        (option("M1", kind="image_to_video", model="dop"), "needs an image attached"),
        (tool_use("add_option", {"kind": "text_to_image", "ref": "S1"}), "Missing or not a string"),
        (option("S1", reason="One. Two. Three sentences here."), "one or two sentences"),
    ],
)
def test_bad_options_are_refused_with_the_reason_and_never_saved(claude, alice_api, chat, bad, why):
    claude.script(reply(text(PROSE), option("S3"), bad), reply(option("S4", model="flux-kontext")))
    # One good option and a bad one: the bad one goes back to the model, which offers another.
    message = post(alice_api, chat)
    assert Option.objects.filter(message_id=message["id"]).count() == 2
    refused = [r for r in tool_results(claude.last_request) if r.get("is_error")]
    assert why in refused[0]["content"]


def test_the_tool_rounds_stop_at_the_cap_and_the_reply_fails_cleanly(claude, alice_api, chat, settings):
    settings.RECOMMENDER_MAX_TOOL_ROUNDS = 3
    claude.script(*[reply(option("S999")) for _ in range(3)])
    message = post(alice_api, chat)
    assert claude.request_count == 3
    assert message["status"] == "failed"
    assert "could not settle" in message["error"]
    assert not Option.objects.exists()


def test_overload_and_rate_limits_are_retried_with_backoff(claude, alice_api, chat):
    claude.script(
        error(529, headers={"retry-after-ms": "10"}),
        error(429, headers={"retry-after-ms": "10"}),
        reply(text(PROSE), option("S1"), option("S2")),
    )
    message = post(alice_api, chat)
    assert message["status"] == "complete"
    assert claude.request_count == 3


def test_a_model_that_keeps_failing_marks_the_reply_failed_and_retry_recovers(claude, alice_api, chat):
    claude.script(*[error(500, headers={"retry-after-ms": "10"}) for _ in range(3)])
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert message["error"] == "The assistant's model service is unavailable right now. Please try again."
    listed = alice_api.get(f"/api/chats/{chat.id}/messages").json()["items"]
    assert listed[0]["content_text"] == "a cinematic sunset over mountains"
    assert listed[1]["status"] == "failed"

    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    retried = alice_api.post(f"/api/messages/{message['id']}/retry").json()["message"]
    assert retried["status"] == "complete"
    assert retried["content_text"] == PROSE
    assert len(alice_api.get(f"/api/messages/{message['id']}/options").json()) == 2


def test_a_slow_model_times_out_into_a_readable_failure(claude, alice_api, chat, settings):
    settings.ANTHROPIC_TIMEOUT = 0.5
    settings.ANTHROPIC_MAX_RETRIES = 0
    claude.script(reply(text(PROSE), option("S1"), option("S2"), delay=2))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert "took too long" in message["error"]


@pytest.mark.parametrize("step", [garbage(b"{not json"), reply(text(PROSE), option("S1"), hang_up_after=4)])
def test_garbage_or_a_cut_stream_fails_the_reply_without_a_500(claude, alice_api, chat, step):
    claude.script(step)
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert message["error"]
    assert not Option.objects.exists()


def test_an_overload_in_the_middle_of_the_answer_fails_the_reply_plainly_and_keeps_no_option(claude, alice_api, chat):
    """The API may end a stream it began with an `error` event (overloaded): the reply fails with a message
    that says the service is unavailable, and the option already shown is not kept."""
    # 16 events: the prose, the first call and the start of the second, which shows the first option.
    claude.script(reply(text(PROSE), option("S1"), option("S2"), error_after=(16, "overloaded_error")))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert "unavailable right now" in message["error"]
    assert not Option.objects.exists()


def test_earlier_turns_go_into_the_context(claude, alice_api, chat):
    claude.script(reply(text("A sunset, three ways."), option("S1"), option("S2")))
    post(alice_api, chat, "a cinematic sunset over mountains")
    claude.script(reply(text("Darker it is."), option("S3"), option("S4")))
    post(alice_api, chat, "make it darker")
    messages = claude.last_request.body["messages"]
    assert messages[0] == {"role": "user", "content": "a cinematic sunset over mountains"}
    assert messages[1]["role"] == "assistant" and "A sunset, three ways." in messages[1]["content"]
    assert messages[-1]["content"].startswith("make it darker")


def test_history_is_trimmed_to_the_token_budget(claude, alice_api, chat, settings):
    settings.RECOMMENDER_HISTORY_TOKENS = 60
    for i in range(5):
        claude.script(reply(text(f"Reply {i}: " + "word " * 40)))
        post(alice_api, chat, f"message {i}: " + "idea " * 40)
    sent = json.dumps(claude.last_request.body["messages"])
    assert "message 4" in sent
    assert "message 0" not in sent


def test_an_attached_image_leads_to_image_to_video_options(claude, alice, alice_api, chat, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = Attachment(owner=alice, kind="image", mime="image/png", size_bytes=3)
    upload.file.save("photo.png", ContentFile(b"png"), save=True)
    url = f"http://testserver/media/{upload.file.name}"
    claude.script(
        reply(
            text("Let's set your photo in motion."),
            option("S1"),
            option("M1", kind="image_to_video", model="dop"),
            option("M2", kind="image_to_video", model="kling-2-5"),
        )
    )
    message = post(alice_api, chat, "make my photo orbit like a music video", attachments=[url])
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert [o["tool_type"] for o in options] == ["image_to_video", "image_to_video"]
    assert options[0]["style_id"] == str(motions_by_ref()["M1"].id)
    assert "attached an image" in claude.last_request.body["messages"][-1]["content"]
    assert claude.request_count == 1


def test_the_reply_streams_text_then_options_and_survives_a_disconnect(claude, alice_api, chat):
    claude.script(reply(text(PROSE), option("S1"), option("S2"), chunk_delay=0.02))

    async def run(stop_after):
        response = await AsyncClient().post(
            f"/api/chats/{chat.id}/messages",
            {"text": "a cinematic sunset over mountains"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {alice_api.token}", "Accept": "text/event-stream"},
        )
        body = ""
        async for chunk in response.streaming_content:
            body += chunk.decode()
            if stop_after and body.count("\n\n") >= stop_after:
                await response.streaming_content.aclose()
                break
        await replies.replies_wait()
        return body

    events = parse_sse(async_to_sync(run)(None))
    names = [n for n, _ in events]
    assert names[0] == "message" and names[-1] == "done"
    assert names.count("delta") >= 2
    assert names.count("option") == 2
    assert "".join(d["text"] for n, d in events if n == "delta") == PROSE

    claude.script(reply(text(PROSE), option("S3"), option("S4"), chunk_delay=0.02))
    events = parse_sse(async_to_sync(run)(2))
    assert [n for n, _ in events][-1] in ("message", "delta")
    reply_message = Message.objects.filter(chat=chat, author_type="assistant").order_by("position").last()
    assert reply_message.status == "complete"
    assert reply_message.content_text == PROSE
    assert reply_message.options.count() == 2


def test_a_preferred_mode_and_model_reach_the_model_and_other_options_are_refused(claude, alice_api, chat):
    claude.script(
        reply(text(PROSE), option("M1", kind="text_to_video", model="minimax-t2v"), option("S2", model="flux-kontext")),
        reply(option("M2", kind="text_to_video", model="minimax-t2v")),
    )
    message = post(alice_api, chat, mode="text-to-video", model_name="minimax-t2v")
    first_turn = claude.last_request.body["messages"][0]["content"]
    assert "[The person asked for text_to_video with the model minimax-t2v" in first_turn
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert [(o["tool_type"], o["model_key"]) for o in options] == [("text_to_video", "minimax-t2v")] * 2
    refused = [r for r in tool_results(claude.last_request) if r.get("is_error")]
    assert "asked for text_to_video options only" in refused[0]["content"]


# --- Parameters, thinking and cut answers ---


def test_the_tool_lists_each_offered_models_settings_compactly(claude, alice_api, chat):
    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat)
    tool = claude.last_request.body["tools"][0]
    assert "- kling-2-5: duration 5|10; cfg_scale 0-1; negative_prompt text" in tool["description"]
    assert '- veo-3-1-t2v: duration "4"|"6"|"8"; resolution "720"|"1080"; aspect_ratio 16:9|9:16' in tool["description"]
    assert "- soul: num_images 1-4; resolution 2K|4K; aspect_ratio" in tool["description"]
    assert "_url" not in tool["description"] and "; seed " not in tool["description"]
    assert tool["input_schema"]["properties"]["parameters"]["type"] == "object"
    assert "parameters" not in tool["input_schema"]["required"]


def test_parameters_the_model_accepts_are_kept(claude, alice_api, chat):
    claude.script(
        reply(
            text(PROSE),
            option("S1", parameters={"aspect_ratio": "9:16", "num_images": 2}),
            option("M1", kind="text_to_video", model="veo-3-1-t2v", parameters={"duration": "8"}),
        )
    )
    message = post(alice_api, chat)
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert [o["parameters"] for o in options] == [{"aspect_ratio": "9:16", "num_images": 2}, {"duration": "8"}]


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"duration": 8}, "parameters: duration must be one of 5, 10; got 8."),
        ({"duration": "10"}, "parameters: duration must be one of 5, 10; got '10'."),
        ({"aspect_ratio": "9:16"}, "cannot take aspect_ratio"),
        ({"negative_prompt": "blur", "audio_url": "https://example.com/a.mp3"}, "cannot take audio_url"),
        ("10 seconds", "parameters must be an object"),
    ],
)
def test_parameters_the_models_schema_refuses_are_refused_back_with_the_reason(
    claude, alice_api, chat, parameters, why
):
    bad = option("M2", kind="text_to_video", model="kling-2-5-t2v", parameters=parameters)
    claude.script(
        reply(text(PROSE), option("M1", kind="text_to_video", model="kling-2-5-t2v"), bad),
        reply(option("M3", kind="text_to_video", model="kling-2-5-t2v", parameters={"duration": 10})),
    )
    message = post(alice_api, chat, "a red fox in the snow, as a video")
    refused = [r for r in tool_results(claude.last_request) if r.get("is_error")]
    assert why in refused[0]["content"]
    options = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert [o["parameters"] for o in options] == [{}, {"duration": 10}]


def test_settings_the_person_asked_for_are_noted_filled_in_where_left_out_and_said(claude, alice_api, chat):
    claude.script(
        reply(
            text(PROSE),
            option("S1"),
            option("S2", model="reve"),
            option("S3", model="flux-kontext", parameters={"aspect_ratio": "2:3"}),
        )
    )
    message = post(alice_api, chat, "a fox in the snow, vertical, four variations")
    sent = claude.last_request.body["messages"][-1]["content"]
    assert "[Settings asked for: aspect_ratio 9:16 (“vertical”); 4 images per generation" in sent
    soul, reve, flux = alice_api.get(f"/api/messages/{message['id']}/options").json()
    assert soul["parameters"] == {"aspect_ratio": "9:16", "num_images": 4}
    assert soul["reason"] == "It fits the warm, epic mood you described. 9:16 for “vertical”; 4 images as asked."
    assert reve["parameters"] == {"num_images": 4}
    # What the model chose itself stands.
    assert flux["parameters"] == {"aspect_ratio": "2:3"}


def test_camera_words_and_a_reference_to_a_result_are_noted_for_the_model(claude, alice_api, chat):
    claude.script(
        reply(
            text(PROSE),
            option("M1", kind="text_to_video", model="kling-2-5-t2v"),
            option("M2", kind="text_to_video", model="kling-2-5-t2v"),
        )
    )
    post(alice_api, chat, "a neon city street in the rain, slow push-in")
    assert (
        "[The words ask for a video (camera words: “slow push-in”)"
        in claude.last_request.body["messages"][-1]["content"]
    )

    claude.script(
        reply(
            text(PROSE),
            option("M1", kind="text_to_video", model="kling-2-5-t2v"),
            option("M2", kind="text_to_video", model="kling-2-5-t2v"),
        )
    )
    post(alice_api, chat, "now animate it")
    assert "this chat has none to animate" in claude.last_request.body["messages"][-1]["content"]


def test_thinking_is_off_and_max_tokens_leaves_room_for_a_full_reply(claude, alice_api, chat, settings):
    from recommender.agent import REPLY_TOKENS

    settings.ANTHROPIC_MAX_TOKENS = 1000
    claude.script(reply(text(PROSE), option("S1"), option("S2")))
    post(alice_api, chat)
    body = claude.last_request.body
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] == REPLY_TOKENS >= 4 * 300 * 1.7
    assert not {"temperature", "top_p", "top_k"} & set(body)


def test_an_answer_cut_at_max_tokens_fails_plainly_and_never_shows_the_cut_option(claude, alice_api, chat):
    claude.script(reply(text(PROSE), option("S1"), option("S2"), stop_reason="max_tokens", chunk_delay=0.01))

    async def run():
        response = await AsyncClient().post(
            f"/api/chats/{chat.id}/messages",
            {"text": "a cinematic sunset over mountains"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {alice_api.token}", "Accept": "text/event-stream"},
        )
        body = "".join([chunk.decode() async for chunk in response.streaming_content])
        await replies.replies_wait()
        return body

    events = parse_sse(async_to_sync(run)())
    shown = [data["style_id"] for name, data in events if name == "option"]
    assert shown == [str(styles_by_ref()["S1"].id)]  # S2 may be cut: it is never shown
    assert [name for name, _ in events][-1] == "error"
    reply_message = Message.objects.filter(chat=chat, author_type="assistant").get()
    assert reply_message.status == "failed"
    assert reply_message.error == "The assistant's answer ran too long and was cut off. Please try again."
    assert not Option.objects.exists()


def test_a_long_answer_is_cut_by_the_server_at_max_tokens_and_fails_plainly(claude, alice_api, chat, settings):
    claude.script(reply(text("word " * settings.ANTHROPIC_MAX_TOKENS), option("S1"), option("S2")))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert "cut off" in message["error"]
    assert not Option.objects.exists()


def test_a_refusal_fails_plainly_with_no_options(claude, alice_api, chat):
    claude.script(reply(text("I can"), option("S1"), stop_reason="refusal"))
    message = post(alice_api, chat)
    assert message["status"] == "failed"
    assert (
        message["error"] == "The assistant can't help with this request. Please rephrase it or ask for something else."
    )
    assert not Option.objects.exists()
