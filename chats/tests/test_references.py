"""Words that point at a picture already in the chat ("now make it a video", "the second one as a video",
"that image but at night"): the options start from that picture, and generating one sends it as the image."""

import pytest

from chats import services as chat_services
from conftest import run_tasks_until
from generation import services as generation_services
from generation.models import Generation
from recommender.tests.fake_anthropic import reply, text, tool_use

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_preview(fast_generation):
    """Quick jobs on the preview provider."""


def made(option, owner):
    """A finished result of `option`, made by the preview provider (a real PNG in storage)."""
    generation, _ = generation_services.generation_request(
        owner=owner, kind=option.kind, model_key=option.model_key, option=option
    )
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    generation.refresh_from_db()
    assert generation.status == "completed", generation.error
    return generation


@pytest.fixture
def chat_with_pictures(alice, seed_catalogue):
    chat = chat_services.chat_create(owner=alice, title="Lighthouse")
    reply = chat_services.message_post(chat=chat, text="a lighthouse on a cliff at dusk")
    first, second = list(reply.options.all())[:2]
    return chat, made(first, alice), made(second, alice)


def test_now_make_it_a_video_animates_the_newest_picture(alice, chat_with_pictures):
    chat, _, newest = chat_with_pictures
    reply = chat_services.message_post(chat=chat, text="now make it a video")
    options = list(reply.options.all())
    assert options and {option.kind for option in options} == {"image_to_video"}
    assert {option.source_image_url for option in options} == {newest.result.file.url}

    video, _ = generation_services.generation_request(
        owner=alice, kind="image_to_video", model_key=options[0].model_key, option=options[0]
    )
    assert video.image_url.endswith(newest.result.file.url)


def test_the_first_one_as_a_video_animates_the_first_options_picture(alice, chat_with_pictures):
    chat, first, _ = chat_with_pictures
    reply = chat_services.message_post(chat=chat, text="the first one as a video please")
    assert {option.source_image_url for option in reply.options.all()} == {first.result.file.url}


def test_a_rework_gives_the_picture_to_a_model_that_takes_one(alice, chat_with_pictures):
    chat, _, newest = chat_with_pictures
    reply = chat_services.message_post(chat=chat, text="that image but at night", preferred_model="soul")
    options = list(reply.options.all())
    assert options and {option.kind for option in options} == {"text_to_image"}
    assert {option.source_image_url for option in options} == {newest.result.file.url}
    generation, _ = generation_services.generation_request(
        owner=alice, kind="text_to_image", model_key="soul", option=options[0]
    )
    # Soul takes no image of its own: its reference variant makes it, and the notes say so.
    assert generation.model_key == "soul-reference"
    assert generation.image_url.endswith(newest.result.file.url)
    assert any("reference image" in note for note in generation.notes)


def test_without_a_picture_in_the_chat_a_video_is_made_from_the_words(alice, seed_catalogue):
    chat = chat_services.chat_create(owner=alice, title="Words only")
    chat_services.message_post(chat=chat, text="a lighthouse on a cliff at dusk")
    reply = chat_services.message_post(chat=chat, text="now make it a video")
    options = list(reply.options.all())
    assert options and {option.kind for option in options} == {"text_to_video"}
    assert {option.source_image_url for option in options} == {""}
    assert "no picture in this chat" in reply.content_text


def test_a_new_scene_without_pointing_words_starts_from_the_words(alice, chat_with_pictures):
    chat, _, _ = chat_with_pictures
    reply = chat_services.message_post(chat=chat, text="a new scene: a fox in the snow")
    assert {option.kind for option in reply.options.all()} == {"text_to_image"}
    assert {option.source_image_url for option in reply.options.all()} == {""}


def test_another_persons_pictures_are_never_pointed_at(alice, bob, chat_with_pictures):
    own = chat_services.chat_create(owner=bob, title="Bob's")
    chat_services.message_post(chat=own, text="a lighthouse on a cliff at dusk")
    answer = chat_services.message_post(chat=own, text="now make it a video")
    options = list(answer.options.all())
    assert options and {(option.kind, option.source_image_url) for option in options} == {("text_to_video", "")}


def test_with_claude_the_words_point_at_the_picture_and_its_options_animate_it(alice, chat_with_pictures, claude):
    # The pictures were made first, by the offline recommender's options; now the fake Claude answers.
    chat, _, newest = chat_with_pictures
    prompt = " ".join(
        ["The lighthouse beam sweeps the dusk sky as the camera slowly pushes in over the cliff edge."] * 12
    )
    moves = [
        {"kind": "image_to_video", "model": model, "ref": ref, "prompt": prompt, "reason": "A slow push-in."}
        for model, ref in (("dop", "M1"), ("kling-2-5", "M2"))
    ]
    claude.script(reply(text("Let's bring that picture to life."), *(tool_use("add_option", move) for move in moves)))
    answer = chat_services.message_post(chat=chat, text="now make it a video")
    assert claude.request_count == 1
    sent = claude.requests[0].body["messages"][-1]["content"]
    assert "picture made earlier in this chat" in sent
    options = list(answer.options.all())
    assert [(option.kind, option.source_image_url) for option in options] == [
        ("image_to_video", newest.result.file.url)
    ] * 2
