"""Option cards on the chat page: the price before the click, the settings of the chosen model pre-set from the
option, the card redrawn for another model, a refused setting said in words, and nobody else's option."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chats import services as chat_services
from chats.models import Option
from generation.credits import credits_adjust, credits_balance
from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HX-Request": "true"}
SUNSET = "a cinematic sunset over mountains"
DANCER = "a vertical 9:16 video of a dancer, 10 seconds, 1080p"


@pytest.fixture(autouse=True)
def fast_preview(fast_generation):
    """Quick jobs on the preview provider."""


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def ask(user, text, chat=None):
    chat = chat or chat_services.chat_create(owner=user, title="Options")
    reply = chat_services.message_post(chat=chat, text=text)
    return chat, list(reply.options.all())


def card_html(html: str, option) -> str:
    start = html.index(f'<section class="option" id="option-{option.id}"')
    return html[start : html.index("</section>", start)]


def selected(card: str, name: str) -> str:
    select = re.search(rf'<select id="{name}-[^"]+" name="{name}"[^>]*>(.*?)</select>', card, re.S)
    assert select, f"no {name} select"
    return re.search(r'<option value="([^"]*)" selected>', select[1])[1]


def test_each_card_and_its_generate_button_show_the_price(alice, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    for option in options:
        card = card_html(html, option)
        assert f'<span id="option-price-{option.id}">1 credit</span>' in card
        assert '<button class="button primary" type="submit" data-price="1">Generate · 1 credit</button>' in card


def test_the_cards_settings_are_the_models_own_preset_from_the_option(alice, seed_catalogue):
    chat, options = ask(alice, DANCER)
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    veo = next(o for o in options if o.model_key == "veo-3-1-t2v")
    card = card_html(html, veo)
    assert selected(card, "aspect_ratio") == "9:16"
    assert selected(card, "duration") == "8"
    assert selected(card, "resolution") == "1080"
    assert 'name="seed"' not in card and 'name="num_images"' not in card  # Veo has neither
    assert "9:16 · 8 s · 1080p · " in card
    assert "Generate · 5 credits" in card


def test_a_too_poor_person_sees_generate_off_with_the_reason_and_the_server_still_refuses(alice, seed_catalogue):
    chat, options = ask(alice, DANCER)
    credits_adjust(user=alice, amount=-(credits_balance(user=alice) - 2), note="Spent elsewhere")
    client = client_for(alice)
    card = card_html(client.get(f"/chats/{chat.id}/").content.decode(), options[0])
    assert re.search(r"<button [^>]*data-price=\"5\" disabled[^>]*>Generate · 5 credits</button>", card)
    assert "Needs 5 credits; you have 2." in card

    response = client.post(f"/options/{options[0].id}/generate/", {"model": options[0].model_key}, headers=HX)
    assert response.status_code == 422
    assert "Not enough credits: this needs 5, you have 2." in response.content.decode()
    assert not Generation.objects.exists()

    # Credits given back: the next load of the page offers the button again.
    credits_adjust(user=alice, amount=10, note="Top-up")
    card = card_html(client.get(f"/chats/{chat.id}/").content.decode(), options[0])
    assert '<button class="button primary" type="submit" data-price="5">Generate · 5 credits</button>' in card
    assert "Needs 5 credits" not in card


def test_another_take_is_off_when_the_balance_cannot_pay_it(alice, seed_catalogue):
    from conftest import run_tasks_until

    chat, options = ask(alice, SUNSET)
    client = client_for(alice)
    client.post(f"/options/{options[0].id}/generate/", {"model": options[0].model_key}, headers=HX)
    generation = Generation.objects.get()
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    credits_adjust(user=alice, amount=-credits_balance(user=alice), note="Spent elsewhere")
    html = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    assert re.search(r"<button [^>]*disabled[^>]*>Another take · 1 credit</button>", html)
    assert "Needs 1 credit; you have 0." in html


def test_the_settings_chosen_go_to_the_generation(alice, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    soul = next(o for o in options if o.model_key == "soul")
    data = {"model": "soul", "aspect_ratio": "9:16", "num_images": "2", "resolution": "4K", "prompt": "a red kite"}
    response = client_for(alice).post(f"/options/{soul.id}/generate/", data, headers=HX)
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.parameters == {"aspect_ratio": "9:16", "num_images": 2, "resolution": "4K"}
    assert generation.prompt == "a red kite"


def test_a_refused_setting_is_said_in_words_and_the_card_with_the_edited_prompt_stays(alice, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    flux = next(o for o in options if o.model_key == "flux-kontext")
    before = credits_balance(user=alice)
    data = {"model": "flux-kontext", "seed": "0", "prompt": "my own words"}
    response = client_for(alice).post(f"/options/{flux.id}/generate/", data, headers=HX)
    assert response.status_code == 422
    # Only the words go into the card's error box: the form, with the person's prompt, is left as it is.
    assert re.fullmatch(r"seed must be a whole number from 1 to \S+; got 0\.", response.content.decode().strip())
    assert response.headers["HX-Retarget"] == f"#option-error-{flux.id}"
    assert not Generation.objects.exists()
    assert credits_balance(user=alice) == before

    response = client_for(alice).post(f"/options/{flux.id}/generate/", {**data, "seed": "many"}, headers=HX)
    words = unescape(response.content.decode()).strip()
    assert re.fullmatch(r"seed must be a whole number from 1 to \S+; got 'many'\.", words)
    response = client_for(alice).post(f"/options/{flux.id}/generate/", {**data, "aspect_ratio": "5:1"}, headers=HX)
    assert "aspect_ratio must be one of 16:9, 4:3" in response.content.decode()


def test_another_model_redraws_the_settings_keeping_those_it_takes(alice, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    flux = next(o for o in options if o.model_key == "flux-kontext")
    client = client_for(alice)
    url = f"/options/{flux.id}/controls/"

    html = client.get(url, {"model": "soul", "aspect_ratio": "9:16", "seed": "42"}, headers=HX).content.decode()
    assert selected(html, "model") == "soul"
    assert selected(html, "aspect_ratio") == "9:16"  # Soul takes 9:16 too
    assert selected(html, "resolution") == "2K"  # Soul's default
    assert 'name="num_images" value="1" min="1" max="4"' in html
    assert 'name="seed"' not in html  # Soul takes no seed

    # Reve takes only a number of images; a video model is not offered on an image option.
    html = client.get(url, {"model": "reve", "aspect_ratio": "9:16"}, headers=HX).content.decode()
    assert selected(html, "model") == "reve"
    assert 'name="aspect_ratio"' not in html
    assert 'value="veo-3-1-t2v"' not in html
    assert f'<span id="option-price-{flux.id}" hx-swap-oob="true">1 credit</span>' in html


def test_the_redrawn_price_follows_the_model(alice, seed_catalogue, settings):
    settings.GENERATION_PRICES = {"soul": 3}
    chat, options = ask(alice, SUNSET)
    flux = next(o for o in options if o.model_key == "flux-kontext")
    html = client_for(alice).get(f"/options/{flux.id}/controls/", {"model": "soul"}, headers=HX).content.decode()
    assert "Generate · 3 credits" in html
    assert f'<span id="option-price-{flux.id}" hx-swap-oob="true">3 credits</span>' in html


def test_another_persons_option_is_not_found(alice, bob, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    bob_client = client_for(bob)
    assert bob_client.get(f"/options/{options[0].id}/controls/", {"model": "soul"}, headers=HX).status_code == 404
    assert bob_client.post(f"/options/{options[0].id}/generate/", {"model": "soul"}, headers=HX).status_code == 404
    assert not Generation.objects.exists()


def test_a_card_without_a_preview_shows_a_placeholder_with_its_name(alice, seed_catalogue):
    chat, options = ask(alice, SUNSET)
    Option.objects.filter(pk=options[0].pk).update(style=None)
    html = client_for(alice).get(f"/chats/{chat.id}/").content.decode()
    card = card_html(html, options[0])
    assert "<img" not in card.split('<div class="option-body">')[0]
    assert '<div class="option-preview placeholder"><span>Flux Kontext Max</span></div>' in card


def test_the_chat_page_reads_models_and_balance_once_whatever_the_number_of_cards(alice, seed_catalogue):
    chat, _ = ask(alice, SUNSET)
    ask(alice, DANCER, chat=chat)  # styles and motions both: their previews are read once each
    client = client_for(alice)
    client.get(f"/chats/{chat.id}/")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/chats/{chat.id}/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for text in ("a lighthouse in a storm", "a neon city street in the rain, slow push-in", "a cat, 10 seconds"):
        ask(alice, text, chat=chat)
    assert count() == few
