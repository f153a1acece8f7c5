"""Reading what a request asks for besides its look, and fitting it to what each model accepts."""

import pytest

from generation.models import GenerationModel
from recommender import asked
from recommender.asked import Asked, Setting, asked_read, camera_words, fit, medium, nearest, result_reference


def test_every_pattern_of_the_words_file_compiles():
    words = asked.words()
    assert words.camera and words.video and words.image and words.ratios and words.resolutions
    assert "red" in words.colours and "gets" in words.glue


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a neon city street in the rain, slow push-in", "video"),
        ("orbit around a marble statue", "video"),
        ("drone shot over a lagoon", "video"),
        ("slow pan across a bookshelf", "video"),
        ("zoom out from a lone tree", "video"),
        ("timelapse of a skyline", "video"),
        ("a ballerina in slow motion", "video"),
        ("a perfume bottle spinning on a mirror", "video"),
        ("dolly in on an old man", "video"),
        ("crane shot rising over a castle", "video"),
        ("tracking shot following a cyclist", "video"),
        ("a 4 second loop of a candle", "video"),
        ("a photo of a dancer in slow motion", "image"),
        ("a frying pan with eggs", None),
        ("a crane standing in a lake", None),
        ("a satellite in orbit", None),
        ("grunge 90s band in an alley", None),
        ("a futuristic drone delivering a parcel", None),
    ],
)
def test_camera_words_ask_for_a_video_and_look_alikes_do_not(text, expected):
    assert medium(text) == expected


def test_the_camera_words_and_a_reference_to_a_result_are_quoted_back():
    assert camera_words("a neon street in the rain, slow push-in") == "slow push-in"
    assert result_reference("now make it a video") == "make it a video"
    assert result_reference("the last one as a video") == "the last one as a video"
    assert result_reference("animate it") == "animate it"
    assert result_reference("a red fox in the snow") == ""


@pytest.mark.parametrize(
    ("text", "setting", "value"),
    [
        ("vertical please", "aspect_ratio", "9:16"),
        ("in 9:16", "aspect_ratio", "9:16"),
        ("portrait format", "aspect_ratio", "3:4"),
        ("a square image of a cat", "aspect_ratio", "1:1"),
        ("widescreen", "aspect_ratio", "16:9"),
        ("for a reel", "aspect_ratio", "9:16"),
        ("for my instagram story", "aspect_ratio", "9:16"),
        ("for a TikTok", "aspect_ratio", "9:16"),
        ("for YouTube", "aspect_ratio", "16:9"),
        ("10 seconds", "duration", 10),
        ("a ten-second clip", "duration", 10),
        ("a short clip", "duration", 5),
        ("a one minute timelapse", "duration", 60),
        ("in 4K", "resolution", 2160),
        ("in HD", "resolution", 1080),
        ("1080p", "resolution", 1080),
        ("four variations", "count", 4),
        ("give me 3 images", "count", 3),
    ],
)
def test_formats_lengths_resolutions_and_counts_are_read(text, setting, value):
    found = getattr(asked_read([text]), setting)
    assert found is not None and found.value == value


@pytest.mark.parametrize(
    "text",
    [
        "like my parents 80s holiday pics",
        "a story about a knight",
        "Times Square at night",
        "a vertical garden on a wall",
        "two people on a bench",
    ],
)
def test_look_alikes_ask_for_nothing(text):
    assert not asked_read([text])


def test_a_later_message_replaces_an_earlier_setting_and_keeps_the_others():
    found = asked_read(["a lighthouse, vertical, 10 seconds", "make it square"])
    assert found.aspect_ratio.value == "1:1"
    assert found.duration.value == 10


@pytest.mark.parametrize(
    ("prop", "target", "expected"),
    [
        ({"type": "integer", "enum": [5, 10]}, 10, 10),
        ({"type": "integer", "enum": [5, 10]}, 8, 10),
        ({"type": "string", "enum": ["4", "6", "8"]}, 10, "8"),
        ({"type": "integer", "minimum": 2, "maximum": 12}, 60, 12),
        ({"type": "integer", "enum": [4, 8, 12]}, 10, 12),
    ],
)
def test_the_nearest_length_is_in_the_models_own_type(prop, target, expected):
    assert nearest("duration", prop, target) == expected


def test_the_nearest_frame_keeps_the_orientation_and_resolutions_compare_by_height():
    assert nearest("aspect_ratio", {"enum": ["16:9", "9:16"]}, "3:4") == "9:16"
    assert nearest("aspect_ratio", {"enum": ["auto", "1:1", "4:5", "16:9"]}, "2:3") == "4:5"
    assert nearest("resolution", {"enum": ["2K", "4K"]}, 1080) == "2K"
    assert nearest("resolution", {"enum": ["480", "720", "1080"]}, 2160) == "1080"
    assert nearest("resolution", {"enum": ["512P", "768P"]}, 1080) == "768P"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "parameters", "said"),
    [
        ("kling-2-5-t2v", {"duration": 10}, [("10 seconds", "")]),
        ("veo-3-1-t2v", {"aspect_ratio": "9:16", "duration": "8"}, [("9:16", "for “vertical”"), ("8 seconds", "its")]),
        ("seedance-v1-lite-t2v", {"aspect_ratio": "9:16", "duration": 10}, [("9:16", "for"), ("10 seconds", "")]),
    ],
)
def test_a_model_gets_what_it_can_take_and_nothing_else(model, parameters, said):
    request = Asked(aspect_ratio=Setting("9:16", "vertical"), duration=Setting(10, "10 seconds"))
    fitted = fit(GenerationModel.objects.get(name=model).input_schema, request)
    assert fitted.parameters == parameters
    assert len(fitted.honoured) == len(said)
    for (spoken, how), (expected_spoken, expected_how) in zip(fitted.honoured, said, strict=True):
        assert spoken == expected_spoken and how.startswith(expected_how)
    if "aspect_ratio" not in parameters:
        assert fitted.lacking == ("aspect-ratio",)


@pytest.mark.django_db
def test_our_own_frame_fills_in_only_where_nothing_was_asked():
    schema = GenerationModel.objects.get(name="soul").input_schema
    assert fit(schema, Asked(), defaults={"aspect_ratio": "3:4"}).parameters == {"aspect_ratio": "3:4"}
    chosen = fit(schema, Asked(aspect_ratio=Setting("1:1", "square")), defaults={"aspect_ratio": "3:4"})
    assert chosen.parameters == {"aspect_ratio": "1:1"}
    assert fit(GenerationModel.objects.get(name="reve").input_schema, Asked(), defaults={"aspect_ratio": "3:4"}) == (
        asked.Fitted({}, (), ())
    )
