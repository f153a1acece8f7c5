"""Reasons say only what is true: the checker, and the offline recommender's reasons checked by it."""

import pytest

from generation.models import GenerationModel, Motion, Style
from recommender.claims import Sources, reason_unsupported
from recommender.offline import recommend

CAR = Sources(
    request="a vintage car driving along the coast",
    entry="Sunset beach Golden-hour dreams. The sky melts from purple to peach.",
    model="Flux Kontext Max Rich detail and crisp typography at high resolution.",
    parameters={"aspect_ratio": "16:9"},
)


def test_an_invented_mood_is_caught():
    reason = "“Sunset beach” leans into the calm mood: golden-hour dreams."
    assert reason_unsupported(reason, CAR) == ["leans", "calm", "mood"]


def test_a_reason_made_of_the_request_the_entry_the_model_and_the_settings_passes():
    reason = (
        "“Sunset beach” picks up “coast” from your request: golden-hour dreams. Flux Kontext Max gets the style "
        "written into its prompt: rich detail and crisp typography at high resolution; 16:9 as asked."
    )
    assert reason_unsupported(reason, CAR) == []


def test_word_forms_meet_but_other_words_do_not():
    sources = Sources(request="a dancer spinning slowly", entry="The subject rotates in place.")
    assert reason_unsupported("“Spin” answers “spinning”: it rotating, slowly.", sources) == []
    assert reason_unsupported("A dreamy, romantic spin.", sources) == ["dreamy", "romantic"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "history", "has_image"),
    [
        ("a vintage car driving slowly along the coast", [], False),
        ("a red bicycle", [], False),
        ("an orange cat on a sofa", [], False),
        ("a neon city street in the rain, slow push-in", [], False),
        ("a lighthouse on a cliff, vertical for a reel, 10 seconds", [], False),
        ("four variations of a cat in a hat, square format, 4K", [], False),
        ("a perfume bottle on marble, product shot", [], False),
        ("make it darker", ["a cinematic sunset over mountains"], False),
        ("now make it a video", ["a quiet beach at sunset"], False),
        ("animate it slowly", [], True),
        ("vertical, 10 seconds, gentle dolly in", [], True),
    ],
)
def test_every_offline_reason_says_only_what_is_true(seed_catalogue, text, history, has_image):
    reply = recommend(text=text, history=history, has_image=has_image)
    assert reply.options
    for option in reply.options:
        entry = Style.objects.get(pk=option.style_id) if option.style_id else Motion.objects.get(pk=option.motion_id)
        model = GenerationModel.objects.get(name=option.model_key)
        sources = Sources(
            request=" ".join([*history, text]),
            entry=f"{entry.name} {entry.description}",
            model=f"{model.label} {model.summary}",
            parameters=option.parameters,
        )
        assert reason_unsupported(option.reason, sources) == [], option.reason
