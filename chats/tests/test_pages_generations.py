"""Generation cards on the chat page: generate, poll until final, cancel, retry, results, animate, the gallery."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from chats import replies
from chats import services as chat_services
from chats.models import Message
from conftest import run_tasks_until
from generation import services as generation_services
from generation.credits import credits_balance, generation_price
from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fast_preview(fast_generation):
    """Quick jobs on the preview provider."""


@pytest.fixture
def option(alice, seed_catalogue):
    chat = chat_services.chat_create(owner=alice, title="Generate")
    reply = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains")
    return reply.options.first()


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def generate(client, option, **data):
    return client.post(f"/options/{option.id}/generate/", data, headers=HX)


def test_generate_answers_a_card_that_polls_until_it_is_final(alice, option):
    client = client_for(alice)
    response = generate(client, option)
    assert response.status_code == 200
    html = response.content.decode()
    generation = Generation.objects.get(option=option)
    assert "<html" not in html
    assert f'hx-get="/generations/{generation.id}/?seen=' in html
    assert 'hx-trigger="every 2s, higgs:wake from:body"' in html
    assert "Queued" in html
    assert f'hx-post="/generations/{generation.id}/cancel/"' in html

    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    card = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    assert "hx-trigger" not in card  # final: polling stops
    generation.refresh_from_db()
    url = generation.result.file.url
    assert f'src="{url}"' in card
    assert f'href="/generations/{generation.id}/download/" download' in card
    assert f'hx-post="/generations/{generation.id}/animate/"' in card
    assert generation.prompt[:60] in card
    assert "How it was made" in card


def test_the_chat_page_shows_generations_after_a_reload(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    html = client.get(f"/chats/{option.message.chat_id}/").content.decode()
    assert f'id="generation-{generation.id}"' in html
    assert f'hx-get="/generations/{generation.id}/?seen=' in html  # pending work keeps updating


def test_the_chosen_model_wins_and_a_model_of_another_kind_is_refused(alice, option):
    client = client_for(alice)
    other = "nano-banana" if option.model_key != "nano-banana" else "soul"
    assert generate(client, option, model=other).status_code == 200
    assert Generation.objects.get(option=option).model_key == other
    response = generate(client, option, model="kling-2-5")
    assert response.status_code == 422
    assert response["HX-Retarget"] == f"#option-error-{option.id}"
    assert "Pick one of the models" in response.content.decode()


def test_generate_without_htmx_redirects_to_the_option(alice, option):
    response = client_for(alice).post(f"/options/{option.id}/generate/")
    assert response.status_code == 302
    assert response["Location"] == f"/chats/{option.message.chat_id}/#option-{option.id}"


def test_cancel_then_retry(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    response = client.post(f"/generations/{generation.id}/cancel/", headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancelled" in html and "hx-trigger" not in html
    assert f'hx-post="/generations/{generation.id}/retry/"' in html
    response = client.post(f"/generations/{generation.id}/retry/", headers=HX)
    retry = Generation.objects.get(retry_of=generation)
    assert f'id="generation-{retry.id}"' in response.content.decode()
    page = client.get(f"/chats/{option.message.chat_id}/").content.decode()
    assert f'id="generation-{retry.id}"' in page
    assert f'id="generation-{generation.id}"' not in page  # the retried attempt gives way


def test_the_sidebar_balance_follows_each_charge_and_refund(alice, option):
    """Generate, retry and an ended job send the balance along for the sidebar; a running job's polls do not."""
    client = client_for(alice)
    start = credits_balance(user=alice)

    def balance_sent(response) -> int | None:
        found = re.search(
            r'<span class="muted" id="credits" hx-swap-oob="true">(\d+) credits</span>', response.content.decode()
        )
        return int(found.group(1)) if found else None

    charged = balance_sent(generate(client, option))
    generation = Generation.objects.get(option=option)
    assert charged == start - generation_price(model_key=generation.model_key) < start
    assert balance_sent(client.get(f"/generations/{generation.id}/", headers=HX)) is None  # still running
    assert balance_sent(client.post(f"/generations/{generation.id}/cancel/", headers=HX)) == start  # refunded
    assert balance_sent(client.post(f"/generations/{generation.id}/retry/", headers=HX)) == charged


def test_a_cancel_is_said_plainly_and_a_failure_as_an_error(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    html = client.post(f"/generations/{generation.id}/cancel/", headers=HX).content.decode()
    assert '<p class="note">Cancelled.</p>' in html and 'class="error"' not in html
    generation.refresh_from_db()
    retry = generation_services.generation_retry(generation=generation)
    generation_services.generation_fail(generation=retry, error="The provider could not make it.")
    html = client.get(f"/generations/{retry.id}/", headers=HX).content.decode()
    assert '<p class="error">The provider could not make it.</p>' in html


def test_generate_again_points_to_the_finished_card_and_another_take_makes_a_new_one(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    card = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    price = generation_price(model_key=generation.model_key)
    assert f"Another take · {price} credit" in card
    assert f'hx-post="/generations/{generation.id}/take/"' in card

    again = generate(client, option)
    assert again["HX-Retarget"] == f"#option-error-{option.id}"
    assert "already made" in again.content.decode() and "<article" not in again.content.decode()
    assert Generation.objects.filter(option=option).count() == 1

    start = credits_balance(user=alice)
    response = client.post(f"/generations/{generation.id}/take/", headers=HX)
    take = Generation.objects.filter(option=option).exclude(pk=generation.pk).get()
    assert f'id="generation-{take.id}"' in response.content.decode()
    assert credits_balance(user=alice) == start - price
    twice = client.post(f"/generations/{generation.id}/take/", headers=HX)  # a double click
    assert twice["HX-Retarget"] == f"#generation-{take.id}"
    assert Generation.objects.filter(option=option).count() == 2
    assert credits_balance(user=alice) == start - price


def test_cancel_after_the_end_says_why(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    generation_services.generation_fail(generation=generation, error="The provider could not make it.")
    response = client.post(f"/generations/{generation.id}/cancel/", headers=HX)
    html = response.content.decode()
    assert "already ended" in html
    assert "The provider could not make it." in html
    assert "Retry" in html


@pytest.mark.parametrize(
    ("target", "label"), [("failed", "Failed"), ("nsfw", "Withheld as unsafe"), ("timed_out", "Timed out")]
)
def test_final_states_show_the_reason_and_retry(alice, option, target, label):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    generation_services.generation_fail(generation=generation, error="Because.", target=target)
    html = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    assert label in html and "Because." in html and "Retry" in html and "hx-trigger" not in html


def test_a_generation_page_without_htmx_is_a_whole_page(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    html = client.get(f"/generations/{generation.id}/").content.decode()
    assert "<html" in html and f'id="generation-{generation.id}"' in html


def test_another_persons_generations_are_404(alice, bob, option):
    generate(client_for(alice), option)
    generation = Generation.objects.get(option=option)
    client = client_for(bob)
    assert client.post(f"/options/{option.id}/generate/", headers=HX).status_code == 404
    assert client.get(f"/generations/{generation.id}/").status_code == 404
    assert client.post(f"/generations/{generation.id}/cancel/").status_code == 404
    assert client.post(f"/generations/{generation.id}/retry/").status_code == 404
    assert async_to_sync(_animate)(bob, generation).status_code == 404
    assert Generation.objects.get(pk=generation.pk).status == "queued"


def test_generation_actions_need_the_csrf_token(alice, option):
    generate(client_for(alice), option)
    generation = Generation.objects.get(option=option)
    client = client_for(alice, enforce_csrf_checks=True)
    for action in ["cancel", "retry", "animate"]:
        assert client.post(f"/generations/{generation.id}/{action}/", headers=HX).status_code == 403
    assert Generation.objects.get(pk=generation.pk).status == "queued"


async def _animate(user, generation):
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.post(f"/generations/{generation.id}/animate/", headers=HX)
    await replies.replies_wait()
    return response


def test_animate_this_image_offers_image_to_video_options_in_the_chat(alice, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    generation.refresh_from_db()
    response = async_to_sync(_animate)(alice, generation)
    reply = Message.objects.filter(chat_id=option.message.chat_id).order_by("-position").first()
    assert response["HX-Redirect"] == f"/chats/{option.message.chat_id}/#message-{reply.id}"
    asked = Message.objects.get(chat_id=reply.chat_id, position=reply.position - 1)
    assert asked.content_text.startswith("Animate this image")
    assert asked.attachments.get().pk == generation.result_id
    assert reply.status == "complete"
    assert {o.kind for o in reply.options.all()} == {"image_to_video"}


def test_the_gallery_shows_results_across_chats(alice, bob, option):
    client = client_for(alice)
    assert "Nothing here yet" in client.get("/gallery/").content.decode()
    generate(client, option)
    generation = Generation.objects.get(option=option)
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    generation.refresh_from_db()
    html = client.get("/gallery/").content.decode()
    assert "<html" in html and generation.result.file.url in html
    assert f'href="/chats/{option.message.chat_id}/#generation-{generation.id}"' in html
    fragment = client.get("/gallery/", headers=HX).content.decode()
    assert "<html" not in fragment and generation.result.file.url in fragment
    assert generation.result.file.url not in client_for(bob).get("/gallery/").content.decode()
    assert client.get("/gallery/?cursor=nonsense").status_code == 400


def _poll_url(html: str) -> str:
    return re.search(r'hx-get="(/generations/[^"]+\?seen=[^"]+)"', html).group(1).replace("&amp;", "&")


def test_a_running_cards_poll_says_no_change_until_something_changes(alice, bob, option):
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    card = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    poll = _poll_url(card)

    unchanged = client.get(poll, headers=HX)
    assert (unchanged.status_code, unchanged.content) == (204, b"")
    # Another person learns nothing, not even that nothing changed.
    assert client_for(bob).get(poll, headers=HX).status_code == 404

    Generation.objects.filter(pk=generation.pk).update(stage="Rendering", updated_at=generation.updated_at)
    changed = client.get(poll, headers=HX)
    assert changed.status_code == 200 and "Rendering" in changed.content.decode()
    assert _poll_url(changed.content.decode()) != poll


def test_a_poll_with_the_cookie_of_a_session_that_ended_is_not_answered(alice, option, settings):
    from django.test import Client

    settings.API_TOKEN_CACHE_SECONDS = 60
    client = client_for(alice)
    generate(client, option)
    generation = Generation.objects.get(option=option)
    poll = _poll_url(client.get(f"/generations/{generation.id}/", headers=HX).content.decode())
    assert client.get(poll, headers=HX).status_code == 204  # the session is now remembered for its polls
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    client.post("/accounts/logout/")
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = cookie
    answer = stale.get(poll, headers=HX)
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
