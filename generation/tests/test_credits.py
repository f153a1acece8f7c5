"""Credits: a generation costs its model's price, a short balance is refused, a job that ends without a
result is refunded once, staff adjust balances in admin, and the balance shows in the API and the pages."""

import pytest
from django.test import Client

from chats import services as chat_services
from generation import credits, services
from generation.higgsfield import HiggsfieldClient
from generation.models import CreditAccount, CreditEntry, Generation
from generation.tests.conftest import finish, start
from generation.tests.fake_higgsfield import Outcome
from higgs_project.testing import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def balance(user) -> int:
    return credits.credits_balance(user=user)


def set_balance(user, amount: int) -> None:
    credits.credits_adjust(user=user, amount=amount - balance(user), note="test set-up")


def ledger(user, reason=None) -> list[int]:
    entries = CreditEntry.objects.filter(account__user=user).order_by("created_at", "id")
    if reason:
        entries = entries.filter(reason=reason)
    return list(entries.values_list("amount", flat=True))


def assert_ledger_adds_up(user):
    account = CreditAccount.objects.get(user=user)
    assert sum(ledger(user)) == account.balance


def video(api, prompt="waves rolling onto a beach at dawn"):
    return api.post("/api/generations", {"mode": "text-to-video", "model_name": "minimax-t2v", "prompt": prompt})


# --- Charging ---


def test_a_person_starts_with_the_starting_balance(alice, settings):
    settings.CREDITS_START = 100
    assert balance(alice) == 100
    assert not CreditAccount.objects.filter(user=alice).exists()  # made on first use, not on a read


def test_an_image_costs_one_credit_and_a_video_five(alice, alice_api, option):
    start(alice_api, option)
    assert balance(alice) == 99
    assert video(alice_api).status_code == 202
    assert balance(alice) == 94
    assert ledger(alice) == [100, -1, -5]
    charges = CreditEntry.objects.filter(account__user=alice, reason="charge").order_by("created_at")
    assert [e.generation.model_key for e in charges] == ["soul", "minimax-t2v"]
    assert_ledger_adds_up(alice)


def test_prices_come_from_settings_by_model_or_by_image_and_video(alice, alice_api, option, settings):
    settings.GENERATION_PRICES = {"soul": 3, "video": 7}
    start(alice_api, option)
    video(alice_api)
    assert ledger(alice, "charge") == [-3, -7]
    assert credits.generation_price(model_key="nano-banana") == 1
    settings.GENERATION_PRICES = {"image": 0}
    assert credits.generation_price(model_key="nano-banana") == 0


def test_a_free_model_is_not_charged(alice, alice_api, option, settings):
    settings.GENERATION_PRICES = {"soul": 0}
    set_balance(alice, 0)
    start(alice_api, option)
    assert balance(alice) == 0
    assert ledger(alice, "charge") == []


def test_a_double_click_is_one_job_charged_once(alice, alice_api, option):
    first, second = start(alice_api, option), start(alice_api, option)
    assert first == second
    assert ledger(alice, "charge") == [-1]
    assert balance(alice) == 99


def test_without_enough_credits_the_request_is_refused_and_nothing_is_made(alice, alice_api, option):
    set_balance(alice, 2)
    response = video(alice_api)
    assert response.status_code == 402
    assert response.json() == {"detail": "Not enough credits: this needs 5, you have 2."}
    assert not Generation.objects.filter(owner=alice).exists()
    assert balance(alice) == 2
    assert ledger(alice, "charge") == []
    # The blocking route refuses the same way.
    set_balance(alice, 0)
    response = alice_api.post("/api/higgsfield/generate", {"option_id": str(option.id), "mode": "text-to-image"})
    assert response.status_code == 402
    assert response.json()["detail"] == "Not enough credits: this needs 1, you have 0."


def test_the_page_says_why_when_credits_run_out(alice, option):
    set_balance(alice, 0)
    client = Client()
    client.force_login(alice)
    response = client.post(f"/options/{option.id}/generate/", headers={"HX-Request": "true"})
    assert "Not enough credits: this needs 1, you have 0." in response.content.decode()
    assert not Generation.objects.filter(owner=alice).exists()


def test_a_retry_is_a_new_paid_attempt(alice, alice_api, option):
    generation_id = start(alice_api, option)
    alice_api.post(f"/api/generations/{generation_id}/cancel")
    assert balance(alice) == 100  # cancelled while queued: refunded
    response = alice_api.post(f"/api/generations/{generation_id}/retry")
    assert response.status_code == 202
    assert balance(alice) == 99
    assert ledger(alice) == [100, -1, 1, -1]
    set_balance(alice, 0)
    alice_api.post(f"/api/generations/{response.json()['id']}/cancel")
    set_balance(alice, 0)
    refused = alice_api.post(f"/api/generations/{response.json()['id']}/retry")
    assert refused.status_code == 402
    assert refused.json()["detail"] == "Not enough credits: this needs 1, you have 0."


# --- Refunds ---


@pytest.mark.parametrize(("outcome", "status"), [("failed", "failed"), ("nsfw", "nsfw")])
def test_a_failed_or_nsfw_job_is_refunded_once(higgsfield, alice, alice_api, option, run_worker, outcome, status):
    higgsfield.outcomes.append(Outcome(outcome, error="GPU on fire") if outcome == "failed" else outcome)
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == status
    assert balance(alice) == 100
    assert ledger(alice) == [100, -1, 1]
    refund = CreditEntry.objects.get(account__user=alice, reason="refund")
    assert refund.generation_id == generation.pk
    assert refund.note == f"Ended {status}"
    # The same news again (a second poll, a repeated webhook) moves nothing and refunds nothing.
    assert services.generation_fail(generation=generation, error="again") is False
    assert ledger(alice, "refund") == [1]
    assert_ledger_adds_up(alice)


def test_a_completed_job_is_not_refunded(higgsfield, alice, alice_api, option, run_worker):
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "completed"
    assert balance(alice) == 99
    assert ledger(alice, "refund") == []


def test_a_job_cancelled_before_it_reached_the_provider_is_refunded(higgsfield, alice, alice_api, option):
    generation_id = start(alice_api, option)
    response = alice_api.post(f"/api/generations/{generation_id}/cancel")
    assert response.json()["status"] == "cancelled"
    assert balance(alice) == 100
    assert alice_api.post(f"/api/generations/{generation_id}/cancel").status_code == 409
    assert ledger(alice, "refund") == [1]
    assert higgsfield.submissions == []


def test_a_job_cancelled_in_the_providers_queue_is_refunded(higgsfield, alice, alice_api, option, run_worker):
    higgsfield.queue_seconds = 30
    generation_id = start(alice_api, option)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "submitted")
    assert alice_api.post(f"/api/generations/{generation_id}/cancel").json()["status"] == "cancelled"
    assert len(higgsfield.cancels) == 1
    run_worker(lambda: True)
    assert balance(alice) == 100
    assert ledger(alice, "refund") == [1]


def test_a_job_cancelled_at_the_provider_is_refunded(higgsfield, alice, alice_api, option, run_worker):
    higgsfield.queue_seconds = 30
    generation_id = start(alice_api, option)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "submitted")
    # Cancelled on Higgsfield's side (its dashboard, say): our next poll learns it.
    with HiggsfieldClient() as client:
        assert client.cancel(Generation.objects.get(pk=generation_id).provider_request_id)
    generation = finish(run_worker, generation_id)
    assert generation.status == "cancelled"
    assert generation.error == "Cancelled at the provider."
    assert ledger(alice, "refund") == [1]


def test_a_timed_out_job_is_refunded(higgsfield, alice, alice_api, option, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 1
    higgsfield.outcomes.append(Outcome("completed", malformed=True))
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "timed_out"
    assert balance(alice) == 100


def test_a_refund_is_given_once_even_when_asked_twice(alice, option):
    generation, _ = services.generation_request(owner=alice, option=option, kind="text_to_image", model_key="soul")
    services.generation_fail(generation=generation, error="boom")
    credits.credits_refund(generation=generation, outcome="failed")
    assert ledger(alice) == [100, -1, 1]


def test_the_ledger_outlives_a_deleted_chat(alice, alice_api, option):
    generation_id = start(alice_api, option)
    chat_services.chat_delete(chat=option.message.chat)
    assert not Generation.objects.filter(pk=generation_id).exists()
    assert ledger(alice) == [100, -1]
    assert_ledger_adds_up(alice)


# --- At once ---


def test_requests_at_once_cannot_overspend(alice, seed_catalogue, settings):
    settings.RATE_LIMIT_GENERATIONS = ""
    set_balance(alice, 3)

    def request(n):
        return services.generation_request(
            owner=alice, kind="text_to_image", model_key="nano-banana", prompt=f"a lighthouse in storm number {n}"
        )

    returned, raised = at_once(8, request)
    made = [generation.pk for generation, _created in returned]
    refused = [(exc.status, str(exc)) for exc in raised if isinstance(exc, services.GenerationError)]
    errors = [exc for exc in raised if not isinstance(exc, services.GenerationError)]
    assert errors == []
    assert len(made) == 3
    assert len(refused) == 5
    assert {status for status, _ in refused} == {402}
    assert balance(alice) == 0
    assert Generation.objects.filter(owner=alice).count() == 3
    assert ledger(alice, "charge") == [-1, -1, -1]
    assert_ledger_adds_up(alice)


def test_double_clicks_at_once_make_one_job_charged_once(alice, option, settings):
    returned, errors = at_once(
        6,
        lambda n: services.generation_request(owner=alice, option=option, kind="text_to_image", model_key="soul"),
    )
    ids = [generation.pk for generation, _created in returned]
    assert errors == []
    assert len(set(ids)) == 1
    assert ledger(alice, "charge") == [-1]


# --- Seeing and adjusting the balance ---


def test_the_api_says_who_i_am_and_my_credits(alice, alice_api, option):
    start(alice_api, option)
    response = alice_api.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {"id": str(alice.pk), "username": "alice", "credits": 99}


def test_me_needs_credentials(anon_api):
    assert anon_api.get("/api/me").status_code == 401


def test_the_sidebar_shows_the_balance(alice, option):
    set_balance(alice, 42)
    client = Client()
    client.force_login(alice)
    html = client.get(f"/chats/{option.message.chat_id}/").content.decode()
    assert '<span class="muted" id="credits">42 credits</span>' in html


def test_staff_grant_and_take_back_credits_with_a_note(admin_client, admin_user, alice, option):
    set_balance(alice, 10)
    account = CreditAccount.objects.get(user=alice)
    url = f"/admin/generation/creditaccount/{account.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "test set-up" in page  # the ledger shows under the balance
    response = admin_client.post(url, {"adjust_by": "25", "note": "Goodwill after an outage"})
    assert response.status_code == 302
    assert balance(alice) == 35
    entry = CreditEntry.objects.filter(account=account).latest("id")
    assert (entry.reason, entry.amount, entry.balance_after) == ("adjust", 25, 35)
    assert entry.staff == admin_user
    assert entry.note == "Goodwill after an outage"

    admin_client.post(url, {"adjust_by": "-5", "note": "Duplicate grant"})
    assert balance(alice) == 30

    # Below zero, or without a note, is refused and changes nothing.
    refused = admin_client.post(url, {"adjust_by": "-31", "note": "too much"})
    assert refused.status_code == 200
    assert "cannot go below zero" in refused.content.decode()
    refused = admin_client.post(url, {"adjust_by": "5", "note": ""})
    assert "Say why, for the ledger." in refused.content.decode()
    assert balance(alice) == 30
    assert_ledger_adds_up(alice)


def test_staff_grant_credits_to_someone_who_never_used_them(admin_client, bob):
    response = admin_client.post(
        "/admin/generation/creditaccount/add/", {"user": str(bob.pk), "adjust_by": "50", "note": "Welcome"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert balance(bob) == 150
    assert ledger(bob) == [100, 50]
    listing = admin_client.get("/admin/generation/creditaccount/").content.decode()
    assert "150" in listing


def test_the_ledger_is_read_only_in_admin(admin_client, alice, option):
    set_balance(alice, 5)
    entry = CreditEntry.objects.filter(account__user=alice).first()
    assert admin_client.get("/admin/generation/creditentry/").status_code == 200
    assert admin_client.get("/admin/generation/creditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/generation/creditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403


def test_people_who_are_not_staff_cannot_adjust_credits(client, alice):
    client.force_login(alice)
    assert client.get("/admin/generation/creditaccount/").status_code == 302


def test_an_adjustment_needs_an_amount_and_a_reason(alice):
    with pytest.raises(credits.CreditError, match="how many"):
        credits.credits_adjust(user=alice, amount=0, note="x")
    with pytest.raises(credits.CreditError, match="Say why"):
        credits.credits_adjust(user=alice, amount=5, note=" ")
    with pytest.raises(credits.CreditError, match="balance is 100"):
        credits.credits_adjust(user=alice, amount=-101, note="too much")
