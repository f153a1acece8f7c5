"""Another take of a finished result: a new job with a new seed and a new charge, once per click."""

from datetime import timedelta

import pytest

from generation import services
from generation.credits import credits_balance
from generation.models import Generation

pytestmark = pytest.mark.django_db


def finished(alice, model_key="flux-kontext", prompt="a lighthouse at dusk"):
    generation, _ = services.generation_request(owner=alice, kind="text_to_image", model_key=model_key, prompt=prompt)
    Generation.objects.filter(pk=generation.pk).update(status="completed")
    generation.refresh_from_db()
    return generation


def test_the_same_request_again_is_still_the_finished_job(alice):
    generation = finished(alice)
    again, created = services.generation_request(
        owner=alice, kind="text_to_image", model_key="flux-kontext", prompt="a lighthouse at dusk"
    )
    assert (again.pk, created) == (generation.pk, False)


def test_another_take_is_a_new_job_with_a_new_seed_and_a_new_charge(alice):
    generation = finished(alice)
    before = credits_balance(user=alice)
    take, created = services.generation_another_take(generation=generation)
    assert created and take.pk != generation.pk and take.status == "queued"
    assert take.dedupe_key != generation.dedupe_key
    assert (take.prompt, take.model_key, take.option_id) == (generation.prompt, generation.model_key, None)
    seed = take.parameters["seed"]
    assert take.provider_input["seed"] == seed and 1 <= seed <= 1_000_000
    assert f"Another take, with a new seed ({seed})." in take.notes
    assert credits_balance(user=alice) == before - 1


def test_a_second_click_within_a_few_seconds_is_the_same_take_charged_once(alice):
    generation = finished(alice)
    before = credits_balance(user=alice)
    first, _ = services.generation_another_take(generation=generation)
    second, created = services.generation_another_take(generation=generation)
    assert (second.pk, created) == (first.pk, False)
    assert credits_balance(user=alice) == before - 1


def test_a_later_click_is_another_take_even_when_the_last_one_finished(alice):
    generation = finished(alice)
    first, _ = services.generation_another_take(generation=generation)
    earlier = first.created_at - timedelta(seconds=services.TAKE_TWIN_SECONDS + 1)
    Generation.objects.filter(pk=first.pk).update(status="completed", created_at=earlier)
    second, created = services.generation_another_take(generation=generation)
    assert created and second.pk != first.pk
    assert Generation.objects.filter(status__in=["queued", "completed"]).count() == 3


def test_a_take_of_a_take_starts_from_that_one(alice):
    take, _ = services.generation_another_take(generation=finished(alice))
    Generation.objects.filter(pk=take.pk).update(status="completed")
    take.refresh_from_db()
    again, created = services.generation_another_take(generation=take)
    assert created and again.pk != take.pk
    assert sum(note.startswith("Another take") for note in again.notes) == 1


def test_a_model_without_a_seed_says_so(alice):
    take, created = services.generation_another_take(generation=finished(alice, model_key="soul"))
    assert created and "seed" not in take.parameters
    assert any("takes no seed" in note for note in take.notes)


def test_only_a_finished_result_can_have_another_take(alice):
    queued, _ = services.generation_request(owner=alice, kind="text_to_image", model_key="soul", prompt="a red fox")
    with pytest.raises(services.GenerationError) as refused:
        services.generation_another_take(generation=queued)
    assert refused.value.status == 409
