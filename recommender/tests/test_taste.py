"""What each person's choices teach the recommender: the taste read from their generations, how replies rank and
word options with it (one in three still explores), its page and API, owner-only, and its reset."""

from dataclasses import replace as dataclasses_replace

import pytest
from django.urls import reverse

from chats import services as chat_services
from generation import services as generation_services
from generation.models import Generation, GenerationModel
from recommender import taste as taste_module
from recommender.claims import Sources, reason_unsupported
from recommender.taste import aspect_format, taste_read

pytestmark = pytest.mark.django_db


def ask(owner, text, **preferences):
    """A new chat with `text` posted; the finished reply (the offline recommender answers)."""
    chat = chat_services.chat_create(owner=owner)
    return chat_services.message_post(chat=chat, text=text, **preferences)


def generate(option, status="completed"):
    generation, _ = generation_services.generation_request(
        owner=option.message.chat.owner, kind=option.kind, model_key=option.model_key, option=option
    )
    Generation.objects.filter(pk=generation.pk).update(status=status)
    generation.refresh_from_db()
    return generation


def choose(owner, text, model_key, times=3, status="completed"):
    """Ask `times` times and generate the offered option on `model_key` each time; the options chosen."""
    chosen = []
    for n in range(times):
        reply = ask(owner, f"{text} number {n + 1}")
        option = next(o for o in reply.options.all() if o.model_key == model_key)
        generate(option, status=status)
        chosen.append(option)
    return chosen


def models_of(reply):
    return [(o.model_key, o.style_id) for o in reply.options.all()]


def own_models(text):
    """What the recommender alone offers for `text`."""
    from recommender.offline import recommend

    return [(d.model_key, d.style_id) for d in recommend(text=text).options]


def taste_of(owner):
    return taste_module.taste_summary(taste_module.taste_get(owner=owner))


def names(rows):
    return {row["name"]: row["chosen"] for row in rows}


def sources(option, text, owner):
    entry = option.style or option.motion
    model = GenerationModel.objects.get(name=option.model_key)
    return Sources(
        request=text,
        entry=f"{entry.name} {entry.description}",
        model=f"{model.label} {model.summary}",
        parameters=option.parameters,
        taste=taste_module.claim_source(taste_read(owner_id=owner.pk)),
    )


# --- Learning ---


def test_a_person_with_no_history_gets_the_recommenders_own_reply(alice, seed_catalogue):
    from recommender.offline import recommend

    reply = ask(alice, "a lighthouse on a cliff")
    alone = recommend(text="a lighthouse on a cliff")
    saved = [(o.model_key, o.style_id, o.reason) for o in reply.options.all()]
    assert saved == [(d.model_key, d.style_id, d.reason) for d in alone.options]
    assert not any("often" in reason for _, _, reason in saved)


def test_what_a_person_generates_is_learned_with_its_model_style_and_format(alice, seed_catalogue):
    chosen = choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    taste = taste_of(alice)
    assert taste["generated"] == 3 and taste["in_use"]
    assert names(taste["models"]) == {"Nano Banana": 3}
    assert names(taste["formats"]) == {"vertical": 3}
    assert sum(names(taste["styles"]).values()) == 3
    assert set(names(taste["styles"])) == {option.style.name for option in chosen}
    # The two options left beside each choice.
    assert taste["passed_over"] == 6


def test_cancelled_generations_count_against_and_do_not_make_a_taste(alice, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana", status="cancelled")
    taste = taste_of(alice)
    assert (taste["generated"], taste["cancelled"], taste["in_use"]) == (3, 3, False)
    assert taste["models"] == []
    assert models_of(ask(alice, "a lighthouse on a cliff")) == own_models("a lighthouse on a cliff")


def test_a_download_counts_as_kept(alice, seed_catalogue):
    from django.utils import timezone

    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    Generation.objects.filter(owner=alice).update(downloaded_at=timezone.now())
    taste = taste_of(alice)
    assert taste["kept"] == 3
    assert taste["models"][0]["kept"] == 3


def test_another_take_of_a_result_counts_as_kept(alice, seed_catalogue):
    (option,) = choose(alice, "a portrait of a dancer, vertical", "nano-banana", times=1)
    generation_services.generation_another_take(generation=option.generations.get())
    taste = taste_of(alice)
    assert (taste["generated"], taste["kept"]) == (2, 1)


def test_a_generation_asked_for_without_an_option_is_learned_by_its_style(alice, seed_catalogue):
    from generation.models import Style

    style = Style.objects.get(name="Rainy Day")
    generation_services.generation_request(
        owner=alice, kind="text_to_image", model_key="soul", prompt="a cyclist at night", style_id=style.pk
    )
    taste = taste_of(alice)
    assert names(taste["styles"]) == {"Rainy Day": 1}
    assert names(taste["models"]) == {"Soul": 1}


def test_the_taste_is_read_in_two_queries(alice, seed_catalogue, django_assert_num_queries):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    chat = chat_services.chat_create(owner=alice)
    with django_assert_num_queries(2):
        taste = taste_read(chat_id=chat.pk)
    assert taste.active


# --- Using it in replies ---


def test_the_next_reply_offers_the_preferred_model_first_and_says_so_truthfully(alice, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    reply = ask(alice, "a lighthouse on a cliff")
    first, *others = reply.options.all()
    assert first.model_key == "nano-banana"
    assert first.reason.endswith(" You often choose Nano Banana images.")
    # The wording is true of her choices, and only her choices back it.
    assert reason_unsupported(first.reason, sources(first, "a lighthouse on a cliff", alice)) == []
    untasted = dataclasses_replace(sources(first, "a lighthouse on a cliff", alice), taste="")
    assert reason_unsupported(first.reason, untasted) == ["often", "choose"]
    assert not any("often" in option.reason for option in others)


def test_a_vertical_request_is_worded_with_the_format_too(alice, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    reply = ask(alice, "a skateboarder at dusk, vertical")
    first = reply.options.first()
    assert first.model_key == "nano-banana" and aspect_format(first.parameters) == "vertical"
    assert "You often choose vertical Nano Banana images" in first.reason
    assert reason_unsupported(first.reason, sources(first, "a skateboarder at dusk, vertical", alice)) == []


def test_a_model_never_offered_is_asked_for_and_one_option_in_three_still_explores(alice, seed_catalogue):
    # Reve is not among the offline recommender's first three models: she picks it in the composer.
    for n in range(3):
        reply = ask(alice, f"a portrait of a dancer number {n + 1}", preferred_model="reve")
        generate(reply.options.first())
    reply = ask(alice, "a lighthouse on a cliff")
    options = list(reply.options.all())
    assert [o.model_key for o in options[:2]] == ["reve", "reve"]
    assert options[2].model_key != "reve"  # the exploring one
    assert len({o.style_id for o in options}) == 3
    assert "You often choose Reve images." in options[0].reason


def test_a_model_picked_in_the_composer_wins_over_the_taste(alice, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    reply = ask(alice, "a lighthouse on a cliff", preferred_model="flux-kontext")
    assert {o.model_key for o in reply.options.all()} == {"flux-kontext"}


def test_one_person_s_taste_never_shapes_anothers_reply(alice, bob, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    reply = ask(bob, "a lighthouse on a cliff")
    assert models_of(reply) == own_models("a lighthouse on a cliff")
    assert not any("often" in o.reason for o in reply.options.all())


def test_the_claude_path_keeps_claudes_order_words_the_options_and_never_sends_the_taste(alice, seed_catalogue, claude):
    from recommender.tests.fake_anthropic import reply as claude_reply
    from recommender.tests.fake_anthropic import text as claude_text
    from recommender.tests.test_agent import PROSE, option

    chat = chat_services.chat_create(owner=alice)
    for n in range(3):
        claude.script(claude_reply(claude_text(PROSE), option(f"S{n + 1}", model="nano-banana"), option("S9")))
        reply = chat_services.message_post(chat=chat, text=f"a cinematic sunset number {n + 1}")
        generate(reply.options.get(model_key="nano-banana"))
    claude.script(claude_reply(claude_text(PROSE), option("S5"), option("S6", model="nano-banana")))
    reply = chat_services.message_post(chat=chat, text="a cinematic sunset over the sea")
    soul, nano = reply.options.all()
    assert (soul.model_key, nano.model_key) == ("soul", "nano-banana")
    assert nano.reason.endswith(" You often choose Nano Banana images.")
    assert "often" not in soul.reason
    sent = str(claude.last_request.body)
    assert "often choose" not in sent.casefold() and "Nano Banana images" not in sent


# --- Reset, page and API ---


def test_a_reset_empties_it_and_replies_go_back_to_the_recommenders_own(alice, seed_catalogue):
    from recommender.offline import recommend

    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    taste_module.taste_reset(owner=alice)
    taste = taste_of(alice)
    assert (taste["generated"], taste["models"], taste["in_use"]) == (0, [], False)
    assert taste["since"] is not None
    reply = ask(alice, "a lighthouse on a cliff")
    assert [o.model_key for o in reply.options.all()] == [
        d.model_key for d in recommend(text="a lighthouse on a cliff").options
    ]


def test_the_api_shows_the_callers_own_taste_only(alice, alice_api, bob_api, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    mine = alice_api.get("/api/me/taste")
    assert mine.status_code == 200
    body = mine.json()
    assert body["in_use"] is True and body["generated"] == 3
    assert [(m["value"], m["name"], m["chosen"]) for m in body["models"]] == [("nano-banana", "Nano Banana", 3)]
    assert body["formats"][0]["value"] == "vertical"
    theirs = bob_api.get("/api/me/taste").json()
    assert (theirs["generated"], theirs["models"], theirs["styles"]) == (0, [], [])


def test_delete_forgets_the_callers_taste_and_no_one_elses(alice, bob, alice_api, bob_api, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    choose(bob, "a portrait of a singer, vertical", "flux-kontext")
    response = bob_api.delete("/api/me/taste")
    assert response.status_code == 204 and response.content == b""
    assert bob_api.get("/api/me/taste").json()["models"] == []
    assert alice_api.get("/api/me/taste").json()["models"][0]["name"] == "Nano Banana"


def test_the_api_needs_a_token(anon_api):
    assert anon_api.get("/api/me/taste").status_code == 401
    assert anon_api.delete("/api/me/taste").status_code == 401


def test_the_page_lists_what_was_learned_for_its_owner_only(alice, bob, client, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    client.force_login(alice)
    page = client.get(reverse("taste")).content.decode()
    assert "What Higgs learned" in page and "Nano Banana" in page and "chosen 3×" in page and "vertical" in page
    assert 'action="/taste/reset/"' in page
    client.force_login(bob)
    page = client.get(reverse("taste")).content.decode()
    assert "Nothing learned yet." in page and "Nano Banana" not in page


def test_the_reset_button_empties_the_page(alice, client, seed_catalogue):
    choose(alice, "a portrait of a dancer, vertical", "nano-banana")
    client.force_login(alice)
    assert client.get(reverse("taste_reset")).status_code == 405
    response = client.post(reverse("taste_reset"))
    assert response.status_code == 302 and response["Location"] == reverse("taste")
    page = client.get(reverse("taste")).content.decode()
    assert "Nothing learned yet." in page and "Nano Banana" not in page and "You reset it on" in page


def test_the_page_asks_a_stranger_to_log_in(client, db):
    response = client.get(reverse("taste"))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_sidebar_links_to_the_page(alice, client):
    client.force_login(alice)
    assert f'href="{reverse("taste")}"' in client.get(reverse("chat_new")).content.decode()
