import re
import uuid

import pytest

from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir
from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO
from generation.models import GenerationModel, Motion, Style
from recommender.offline import NUMBERS, recommend
from recommender.types import Preference


@pytest.fixture
def catalogue(db):
    """Higgsfield's whole catalogue as our snapshot has it: 106 styles and 121 motions, in published order."""
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
    catalogue_import(styles=styles, motions=motions)


def _entry(option):
    if option.style_id:
        return Style.objects.get(id=option.style_id)
    return Motion.objects.get(id=option.motion_id)


def _mentions(entry, *words):
    text = f"{entry.name} {entry.description}".casefold()
    return any(word in text for word in words)


def _sentences(prompt):
    return [sentence for sentence in re.split(r"(?<=[.!?])\s+", prompt) if sentence]


def test_a_sunset_over_mountains_gets_image_options_with_distinct_enabled_styles(catalogue):
    reply = recommend(text="cinematic sunset over mountains")

    assert 2 <= len(reply.options) <= 4
    assert reply.recommender == "offline"
    assert reply.content_text
    style_ids = [option.style_id for option in reply.options]
    assert len(set(style_ids)) == len(style_ids)
    for option in reply.options:
        assert option.kind == TEXT_TO_IMAGE
        assert option.motion_id is None
        assert GenerationModel.objects.get(name=option.model_key).kind == TEXT_TO_IMAGE
        assert Style.objects.get(id=option.style_id).enabled


def test_each_option_has_a_detailed_prompt_about_the_subject_and_a_short_reason(catalogue):
    reply = recommend(text="cinematic sunset over mountains")

    for option in reply.options:
        assert 150 <= len(option.enhanced_prompt.split()) <= 300
        assert "sunset" in option.enhanced_prompt.casefold()
        assert "mountains" in option.enhanced_prompt.casefold()
        name = _entry(option).name
        assert name in option.reason
        assert GenerationModel.objects.get(name=option.model_key).label in option.reason
        # One or two sentences; a name such as "Mt. Fuji" is not a sentence end.
        assert 1 <= len(_sentences(option.reason.replace(name, "it"))) <= 2


def test_the_first_image_option_uses_the_model_strongest_at_the_scene_and_the_others_vary_it(catalogue):
    # No offered text-to-image model takes a style id without a reference image, so fit decides the order:
    # Flux Kontext Max is the one for landscapes, Soul the one for portraits.
    landscape = [option.model_key for option in recommend(text="cinematic sunset over mountains").options]
    portrait = [option.model_key for option in recommend(text="a fashion portrait of a woman in a red coat").options]

    assert landscape[0] == "flux-kontext"
    assert portrait[0] == "soul"
    assert len(set(landscape)) == len(landscape)


def test_the_style_and_motion_name_their_own_look_in_the_prompt(catalogue):
    reply = recommend(text="cinematic sunset over mountains")

    for option in reply.options:
        assert f"“{_entry(option).name}”" in option.enhanced_prompt


def test_a_rainy_street_at_night_picks_a_rain_or_night_style(catalogue):
    reply = recommend(text="a rainy street at night")

    styles = [_entry(option) for option in reply.options]
    assert any(_mentions(style, "rain", "night") for style in styles)


def test_spinning_around_a_sneaker_picks_a_rotation_or_orbit_motion(catalogue):
    reply = recommend(text="spin around the sneaker")

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    motions = [_entry(option) for option in reply.options]
    assert all(isinstance(motion, Motion) for motion in motions)
    assert any(_mentions(motion, "rotat", "orbit", "spin", "turntable") for motion in motions)
    for option in reply.options:
        assert option.style_id is None
        assert GenerationModel.objects.get(name=option.model_key).kind == TEXT_TO_VIDEO
        assert "sneaker" in option.enhanced_prompt.casefold()


@pytest.mark.parametrize("text", ["make my photo orbit like a music video", ""])
def test_an_attached_image_gets_image_to_video_options_with_motions(catalogue, text):
    reply = recommend(text=text, has_image=True)

    assert 2 <= len(reply.options) <= 4
    assert len({option.motion_id for option in reply.options}) == len(reply.options)
    for option in reply.options:
        assert option.kind == IMAGE_TO_VIDEO
        assert option.style_id is None
        assert Motion.objects.get(id=option.motion_id).enabled
        assert GenerationModel.objects.get(name=option.model_key).kind == IMAGE_TO_VIDEO
        assert 150 <= len(option.enhanced_prompt.split()) <= 300
    assert reply.options[0].model_key == "dop"


def test_an_attached_image_asking_to_orbit_gets_an_orbit_motion(catalogue):
    reply = recommend(text="make my photo orbit like a music video", has_image=True)

    assert any(_mentions(_entry(option), "orbit", "circles") for option in reply.options)


def test_now_as_a_video_turns_the_earlier_idea_into_video_options(catalogue):
    reply = recommend(text="now as a video", history=["a cinematic sunset over mountains"])

    assert 2 <= len(reply.options) <= 4
    for option in reply.options:
        assert option.kind == TEXT_TO_VIDEO
        assert option.motion_id is not None
        assert "sunset" in option.enhanced_prompt.casefold()
        assert "mountains" in option.enhanced_prompt.casefold()
        assert 150 <= len(option.enhanced_prompt.split()) <= 300
    assert "sunset over mountains" in reply.content_text


def test_make_it_darker_keeps_the_subject_and_darkens_the_prompt(catalogue):
    reply = recommend(text="make it darker", history=["a cinematic sunset over mountains"])

    assert 2 <= len(reply.options) <= 4
    for option in reply.options:
        assert option.kind == TEXT_TO_IMAGE
        assert "sunset" in option.enhanced_prompt.casefold()
        assert "mountains" in option.enhanced_prompt.casefold()
        assert "darker" in option.enhanced_prompt.casefold()


def test_a_later_follow_up_keeps_the_video_asked_for_earlier(catalogue):
    reply = recommend(text="make it darker", history=["a cinematic sunset over mountains", "now as a video"])

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    assert all("sunset" in option.enhanced_prompt.casefold() for option in reply.options)


def test_a_disabled_style_is_never_picked(catalogue):
    first = recommend(text="cinematic sunset over mountains")
    disabled = {option.style_id for option in first.options}
    Style.objects.filter(id__in=disabled).update(enabled=False)

    reply = recommend(text="cinematic sunset over mountains")

    assert len(reply.options) == len(first.options)
    assert not disabled & {option.style_id for option in reply.options}


@pytest.mark.parametrize("text", ["hi", "?", "", "   ", "thanks!"])
def test_a_greeting_or_an_empty_message_gets_a_clarifying_question_without_reading_the_catalogue(
    catalogue, django_assert_num_queries, text
):
    with django_assert_num_queries(0):
        reply = recommend(text=text)

    assert reply.options == []
    assert "?" in reply.content_text
    assert reply.recommender == "offline"


def test_a_follow_up_with_nothing_to_follow_asks_what_to_apply_it_to(catalogue):
    reply = recommend(text="make it darker")

    assert reply.options == []
    assert "?" in reply.content_text


def test_asking_to_animate_a_photo_without_attaching_one_asks_for_the_photo(catalogue):
    reply = recommend(text="animate my photo")

    assert reply.options == []
    assert "attach" in reply.content_text


def test_the_same_request_gives_the_same_reply(catalogue):
    requests = [
        {"text": "cinematic sunset over mountains"},
        {"text": "spin around the sneaker"},
        {"text": "make it darker", "history": ["a rainy street at night"]},
        {"text": "make my photo orbit like a music video", "has_image": True},
    ]
    for request in requests:
        assert recommend(**request) == recommend(**request)


@pytest.mark.parametrize(
    "request_",
    [
        {"text": "cinematic sunset over mountains"},
        {"text": "spin around the sneaker"},
        {"text": "now as a video", "history": ["a rainy street at night"]},
        {"text": "make my photo orbit like a music video", "has_image": True},
    ],
)
def test_it_reads_the_catalogue_in_at_most_two_queries(catalogue, django_assert_max_num_queries, request_):
    with django_assert_max_num_queries(2):
        recommend(**request_)


@pytest.mark.parametrize(
    "request_",
    [
        {"text": "cinematic sunset over mountains"},
        {"text": "a rainy street at night"},
        {"text": "a perfume bottle on marble, product shot"},
        {"text": "portrait of an old fisherman, vertical"},
        {"text": "spin around the sneaker"},
        {"text": "a watercolor painting of a fox in a snowy forest"},
        {"text": "now as a video", "history": ["a rainy street at night"]},
        {"text": "", "has_image": True},
    ],
)
def test_prompts_read_as_finished_briefs(catalogue, request_):
    reply = recommend(**request_)

    assert reply.options
    for option in reply.options:
        prompt = option.enhanced_prompt
        assert 150 <= len(prompt.split()) <= 300
        sentences = _sentences(prompt)
        assert len(sentences) == len(set(sentences)), "a sentence is repeated"
        assert not re.search(r"[{}<>]|\bNone\b|TODO|\bxx+\b", prompt)


def test_an_empty_catalogue_gets_a_clear_reply_and_no_options(db):
    image = recommend(text="cinematic sunset over mountains")
    video = recommend(text="make my photo orbit", has_image=True)

    assert image.options == []
    assert "no image styles are available yet" in image.content_text.casefold()
    assert video.options == []
    assert "no camera motions are available yet" in video.content_text.casefold()


def test_a_catalogue_of_only_disabled_styles_counts_as_empty(catalogue):
    Style.objects.update(enabled=False)

    reply = recommend(text="cinematic sunset over mountains")

    assert reply.options == []
    assert "no image styles are available yet" in reply.content_text.casefold()


def test_a_tiny_catalogue_of_two_styles_still_gives_two_distinct_options(db):
    glow = Style.objects.create(id=uuid.uuid4(), name="Soft Glow", description="Gentle light and pastel tones.")
    plain = Style.objects.create(id=uuid.uuid4(), name="Plain", description="", sort_order=1)

    reply = recommend(text="a cat astronaut floating in space")

    assert {option.style_id for option in reply.options} == {glow.id, plain.id}
    assert [option.model_key for option in reply.options][0] == "soul"
    for option in reply.options:
        assert 150 <= len(option.enhanced_prompt.split()) <= 300
        assert "cat astronaut" in option.enhanced_prompt
        assert option.reason.strip()


def test_a_catalogue_of_one_style_offers_it_on_two_models(db):
    only = Style.objects.create(id=uuid.uuid4(), name="General", description="Clean, balanced and natural.")

    reply = recommend(text="a lighthouse on a cliff")

    assert [option.style_id for option in reply.options] == [only.id, only.id]
    assert len({option.model_key for option in reply.options}) == 2


# --- The whole request: mode, settings, references, colours ---


def _schema_check(option):
    from generation.model_schema import parameters_check, parameters_schema

    model = GenerationModel.objects.get(name=option.model_key)
    return parameters_check(parameters_schema(model.input_schema), option.parameters, label=model.label)


def test_camera_words_make_a_video_of_the_scene(catalogue):
    reply = recommend(text="a neon city street in the rain, slow push-in")

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    assert any(_mentions(_entry(option), "toward the subject", "closer", "zoom") for option in reply.options)
    for option in reply.options:
        assert "push-in" not in option.enhanced_prompt.split(".")[0]
        assert "neon city street in the rain" in option.enhanced_prompt


def test_camera_words_on_an_attached_photo_animate_it(catalogue):
    reply = recommend(text="vertical, 10 seconds, gentle dolly in", has_image=True)

    assert {option.kind for option in reply.options} == {IMAGE_TO_VIDEO}
    assert any(_mentions(_entry(option), "toward the subject", "closer") for option in reply.options)
    for option in reply.options:
        assert _schema_check(option) == option.parameters


def test_the_format_and_length_asked_for_are_set_within_each_models_range_and_said(catalogue):
    reply = recommend(text="a lighthouse on a cliff at dawn, slow push-in, vertical, 10 seconds")

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    for option in reply.options:
        assert _schema_check(option) == option.parameters
        model = GenerationModel.objects.get(name=option.model_key)
        props = model.input_schema["properties"]
        if "aspect_ratio" in props:
            assert option.parameters["aspect_ratio"] == "9:16"
            assert "9:16 for “vertical”" in option.reason
        if "duration" in props:
            assert option.parameters["duration"] in (10, "8", 12)
            assert f"{option.parameters['duration']} seconds" in option.reason
            seconds = NUMBERS[int(option.parameters["duration"])]
            assert f"Over about {seconds} seconds" in option.enhanced_prompt
    # The model that can do both exactly comes first.
    assert reply.options[0].parameters == {"aspect_ratio": "9:16", "duration": 10}
    assert "“vertical” and “10 seconds”" in reply.content_text


def test_a_model_without_a_setting_does_not_get_it_and_the_reason_says_so(catalogue):
    reply = recommend(text="a fox in the snow in 4K", preference=Preference(model_key="nano-banana"))

    assert [option.model_key for option in reply.options] == ["nano-banana"] * len(reply.options)
    for option in reply.options:
        assert "resolution" not in option.parameters
        assert "Nano Banana has no resolution setting" in option.reason


def test_veo_gets_its_nearest_length_as_a_string(catalogue):
    reply = recommend(text="a 10 second clip of waves", preference=Preference(model_key="veo-3-1-t2v"))

    assert reply.options
    for option in reply.options:
        assert option.parameters["duration"] == "8"
        assert "8 seconds, its closest to “10 second”" in option.reason


def test_four_variations_ask_each_model_for_four_images_where_it_can(catalogue):
    reply = recommend(text="four variations of a cat wearing a tiny hat")

    for option in reply.options:
        props = GenerationModel.objects.get(name=option.model_key).input_schema["properties"]
        if "num_images" in props:
            assert option.parameters["num_images"] == 4
        assert _schema_check(option) == option.parameters
    assert "four variations" not in reply.options[0].enhanced_prompt.casefold()


def test_settings_carry_through_a_follow_up_about_the_same_subject(catalogue):
    reply = recommend(text="now as a video", history=["a lighthouse on a cliff at dawn", "make it vertical"])

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    assert all(o.parameters.get("aspect_ratio") == "9:16" for o in reply.options if "aspect_ratio" in o.parameters)
    assert any("aspect_ratio" in option.parameters for option in reply.options)


def test_a_new_subject_does_not_inherit_the_camera_words_of_the_last(catalogue):
    reply = recommend(text="a misty pine forest at dawn", history=["a neon city street in the rain, slow push-in"])

    assert {option.kind for option in reply.options} == {TEXT_TO_IMAGE}


def test_an_unasked_length_is_left_to_the_model_and_the_prompt_says_its_own(catalogue):
    reply = recommend(text="spin around the sneaker")

    for option in reply.options:
        assert "duration" not in option.parameters
        assert _schema_check(option) == option.parameters


def test_a_colour_alone_does_not_make_a_match(catalogue):
    reply = recommend(text="a red bicycle")

    names = [_entry(option).name for option in reply.options]
    assert "Red balloon" not in names
    assert all("“red”" not in option.reason for option in reply.options)


def test_a_colour_still_counts_beside_a_word_that_matches(catalogue):
    reply = recommend(text="a man in a burgundy suit")

    assert "burgundy suit" in [_entry(option).name for option in reply.options]


def test_animating_an_earlier_result_says_plainly_what_the_options_do(catalogue):
    reply = recommend(text="now make it a video", history=["a red fox in fresh snow"])

    assert {option.kind for option in reply.options} == {TEXT_TO_VIDEO}
    assert "attach a picture" in reply.content_text
    assert all("fox" in option.enhanced_prompt for option in reply.options)


# --- Words in their dictionary form, and the catalogue's index ---


def _styles(*named):
    """A small catalogue: three unrelated looks first, then the given (name, description) pairs."""
    looks = [
        ("Neon Nights", "Electric signs and wet asphalt after dark."),
        ("Studio White", "A seamless white backdrop and soft even light."),
        ("Film Grain", "Faded colour and coarse grain, like an old roll of film."),
        *named,
    ]
    return [
        Style.objects.create(id=uuid.uuid4(), name=name, description=description, sort_order=index)
        for index, (name, description) in enumerate(looks)
    ]


@pytest.mark.parametrize(
    ("text", "name", "description", "said"),
    [
        ("falling leaves in a quiet park", "Autumn Leaf", "Every leaf catches low amber light.", "leaves"),
        ("two mice sharing a piece of cheese", "Mouse Hole", "The world seen from a mouse's height.", "mice"),
        ("dusty shelves in a corner shop", "Shelf Life", "A crowded shelf of curiosities, close and warm.", "shelves"),
        ("a hawk flew above the canyon", "Free Flight", "Birds fly across an open sky.", "flew"),
        ("geese crossing a country road", "Goose Step", "A goose, mid-waddle, in flat daylight.", "geese"),
    ],
)
def test_an_irregular_form_finds_the_look_named_in_its_dictionary_form(db, text, name, description, said):
    *_, expected = _styles((name, description))

    reply = recommend(text=text)

    assert reply.options[0].style_id == expected.id
    assert f"“{said}”" in reply.options[0].reason


def test_a_comparative_stays_a_change_and_not_the_plain_word(catalogue):
    plain = recommend(text="a dark forest")
    darker = recommend(text="make it darker", history=["a forest"])

    assert "darker than usual" not in plain.options[0].enhanced_prompt
    assert "darker than usual" in darker.options[0].enhanced_prompt


def test_a_style_added_or_changed_is_matched_on_the_next_reply(db):
    _styles()
    before = recommend(text="a lighthouse in a storm")
    beacon = Style.objects.create(
        id=uuid.uuid4(),
        name="Beacon",
        description="A lighthouse in a gale, its beam cutting through the rain.",
        sort_order=9,
    )

    added = recommend(text="a lighthouse in a storm")
    Style.objects.filter(id=beacon.id).update(name="Quiet Room", description="An empty room at noon.")
    changed = recommend(text="a lighthouse in a storm")

    assert beacon.id not in {option.style_id for option in before.options}
    assert added.options[0].style_id == beacon.id
    assert "“lighthouse”" in added.options[0].reason
    assert changed.options[0].style_id != beacon.id
