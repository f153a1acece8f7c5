"""Generations per person are limited (RATE_LIMIT_GENERATIONS): 429 with Retry-After in the API, the words
on the option card in the pages; nothing is made or charged past the limit."""

import pytest
from django.test import Client

from generation import services
from generation.models import CreditEntry, Generation

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def make(owner, n, start=0):
    for i in range(start, start + n):
        services.generation_request(
            owner=owner, kind="text_to_image", model_key="nano-banana", prompt=f"a lighthouse, take {i}"
        )


def charges(user) -> int:
    return CreditEntry.objects.filter(account__user=user, reason="charge").count()


def test_past_the_limit_the_api_answers_429_with_retry_after(alice, alice_api, option, settings):
    settings.RATE_LIMIT_GENERATIONS = "2/minute"
    make(alice, 2)
    response = alice_api.post("/api/generations", {"option_id": str(option.id)})
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 55 <= wait <= 60
    assert response.json() == {"detail": f"You're starting generations quickly. Try again in {wait} seconds."}
    assert Generation.objects.filter(owner=alice).count() == 2
    assert charges(alice) == 2
    blocking = alice_api.post("/api/higgsfield/generate", {"option_id": str(option.id), "mode": "text-to-image"})
    assert blocking.status_code == 429
    assert blocking["Retry-After"]


def test_a_double_click_at_the_limit_gets_its_job_not_a_refusal(alice, alice_api, option, settings):
    settings.RATE_LIMIT_GENERATIONS = "1/minute"
    first = alice_api.post("/api/generations", {"option_id": str(option.id)})
    second = alice_api.post("/api/generations", {"option_id": str(option.id)})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]


def test_retries_count_and_are_refused_past_the_limit(alice, alice_api, option, settings):
    settings.RATE_LIMIT_GENERATIONS = "2/minute"
    generation_id = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()["id"]
    alice_api.post(f"/api/generations/{generation_id}/cancel")
    retry = alice_api.post(f"/api/generations/{generation_id}/retry")
    assert retry.status_code == 202
    alice_api.post(f"/api/generations/{retry.json()['id']}/cancel")
    again = alice_api.post(f"/api/generations/{retry.json()['id']}/retry")
    assert again.status_code == 429


def test_staff_bulk_retry_in_admin_is_not_held_to_the_persons_limit(admin_client, alice, option, settings):
    settings.RATE_LIMIT_GENERATIONS = "1/minute"
    generation, _ = services.generation_request(owner=alice, option=option, kind="text_to_image", model_key="soul")
    services.generation_cancel(generation=generation)
    admin_client.post(
        "/admin/generation/generation/", {"action": "retry_selected", "_selected_action": [generation.pk]}
    )
    assert Generation.objects.filter(retry_of=generation).count() == 1


@pytest.mark.parametrize("off", ["", "0"])
def test_an_empty_or_zero_limit_is_off(alice, settings, off):
    settings.RATE_LIMIT_GENERATIONS = off
    make(alice, 5)
    assert Generation.objects.filter(owner=alice).count() == 5


def test_other_peoples_generations_do_not_count(alice, bob, settings):
    settings.RATE_LIMIT_GENERATIONS = "2/minute"
    make(alice, 2)
    make(bob, 2)
    with pytest.raises(services.GenerationRateLimited) as caught:
        make(alice, 1, start=2)
    assert caught.value.status == 429
    assert isinstance(caught.value, services.GenerationError)


def test_the_option_card_says_when_to_try_again(alice, option, settings):
    settings.RATE_LIMIT_GENERATIONS = "1/minute"
    make(alice, 1)
    client = Client()
    client.force_login(alice)
    response = client.post(f"/options/{option.id}/generate/", headers=HX)
    html = response.content.decode()
    assert "You&#x27;re starting generations quickly. Try again in " in html
    assert response["HX-Retarget"] == f"#option-error-{option.pk}"
    assert not Generation.objects.filter(option=option).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_generations_in_different_chats_cannot_pass_the_limit_together(alice, settings):
    from chats import services as chat_services
    from higgs_project.testing import at_once

    settings.RATE_LIMIT_GENERATIONS = "3/minute"
    chats = [chat_services.chat_create(owner=alice, title=f"Chat {n}") for n in range(8)]

    def generate(n):
        generation, _ = services.generation_request(
            owner=alice, kind="text_to_image", model_key="nano-banana", prompt=f"a lighthouse in {chats[n].title}"
        )
        return generation

    made, refused = at_once(8, generate)
    assert len(made) == 3
    assert len(refused) == 5 and all(isinstance(e, services.GenerationRateLimited) for e in refused)
    assert Generation.objects.filter(owner=alice).count() == 3 and charges(alice) == 3
