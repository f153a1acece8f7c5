"""Our Higgsfield slots: at most HIGGSFIELD_CONCURRENCY requests at Higgsfield at once, counted in the database,
handed out round-robin by person; capacity refusals put a job back in line, never fail it or charge it twice."""

import logging
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from generation import pool, services
from generation.credits import credits_balance
from generation.models import CreditEntry, Generation, GenerationModel, SubmissionPool
from generation.pool import fair_order
from generation.tests.conftest import finish

pytestmark = pytest.mark.django_db(transaction=True)

S = Generation.Status


def make_jobs(owner, count, prompt="a lighthouse at dusk"):
    return [
        services.generation_request(owner=owner, kind="text_to_image", model_key="nano-banana", prompt=f"{prompt} {i}")[
            0
        ]
        for i in range(count)
    ]


def statuses(jobs):
    return Counter(Generation.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True))


def all_final(jobs):
    return lambda: not Generation.objects.filter(pk__in=[j.pk for j in jobs], status__in=Generation.ACTIVE).exists()


# --- The fair order ---


def test_one_persons_burst_does_not_hold_back_anothers_jobs():
    # Alice holds all 4 slots and has 12 more waiting; Bob's 2 came later.
    waiting = [(f"a{i}", "alice") for i in range(12)] + [("b0", "bob"), ("b1", "bob")]
    order = fair_order(waiting, Counter({"alice": 4}))
    assert order[:2] == ["b0", "b1"]
    assert order[2:] == [f"a{i}" for i in range(12)]


def test_bursts_of_two_people_alternate_each_oldest_first():
    waiting = [("a0", "alice"), ("a1", "alice"), ("a2", "alice"), ("b0", "bob"), ("b1", "bob")]
    assert fair_order(waiting, Counter()) == ["a0", "b0", "a1", "b1", "a2"]


def test_among_people_holding_as_many_slots_the_one_served_longest_ago_goes_first():
    # Alice's earlier jobs have ended, so she holds no slot, like Bob and Carol; she was served a moment ago.
    waiting = [("a3", "alice"), ("a4", "alice"), ("b0", "bob"), ("c0", "carol")]
    order = fair_order(waiting, Counter(), served={"alice": 20, "carol": 5})
    assert order == ["b0", "c0", "a3", "a4"]


def test_twenty_peoples_jobs_go_round_robin(higgsfield, run_worker, settings):
    from django.contrib.auth import get_user_model

    settings.HIGGSFIELD_CONCURRENCY = 4
    higgsfield.work_seconds = 0.3
    people = [get_user_model().objects.create_user(username=f"person{i}") for i in range(20)]
    # Each makes three in a row, one person after the other; the first person's three start at once.
    jobs = [job for i, person in enumerate(people) for job in make_jobs(person, 3, f"person{i}")]
    run_worker(all_final(jobs), timeout=120)
    senders = [s.body["prompt"].split(" ")[0] for s in higgsfield.submissions]
    assert len(senders) == 60
    later = [f"person{i}" for i in range(1, 20)]
    firsts = [senders.index(name) for name in later]
    thirds = [len(senders) - 1 - senders[::-1].index(name) for name in later]
    # Everyone's first job went before anyone's third: one burst does not starve the people after it.
    assert max(firsts) < min(thirds)


# --- The pool ---


def test_jobs_beyond_the_limit_wait_in_line_with_their_place_on_the_card_and_in_the_api(
    higgsfield, alice, alice_api, settings
):
    settings.HIGGSFIELD_CONCURRENCY = 2
    higgsfield.queue_seconds = 60  # nothing ends: the slots stay taken
    jobs = make_jobs(alice, 5)
    assert statuses(jobs) == {"queued": 2, "waiting": 3}
    waiting = Generation.objects.filter(pk__in=[j.pk for j in jobs], status=S.WAITING).order_by("created_at")
    assert [g.queue_position for g in waiting] == [1, 2, 3]
    assert [g.stage for g in waiting] == ["Next in line", "2nd in line", "3rd in line"]
    third = waiting[2]
    answer = alice_api.get(f"/api/generations/{third.pk}").json()
    assert (answer["status"], answer["queue_position"]) == ("waiting", 3)
    client = Client()
    client.force_login(alice)
    card = client.get(f"/generations/{third.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Waiting for a Higgsfield slot" in card
    assert "3rd in line" in card
    assert f'hx-post="/generations/{third.pk}/cancel/"' in card
    sent = Generation.objects.get(pk=jobs[0].pk)
    assert alice_api.get(f"/api/generations/{sent.pk}").json()["queue_position"] is None


def test_never_more_than_the_limit_at_higgsfield_and_every_job_ends(higgsfield, alice, run_worker, settings):
    settings.HIGGSFIELD_CONCURRENCY = 3
    higgsfield.account_concurrency = 3
    higgsfield.work_seconds = 0.5
    jobs = make_jobs(alice, 9)
    run_worker(all_final(jobs), timeout=60)
    assert statuses(jobs) == {"completed": 9}
    assert len(higgsfield.submissions) == 9
    assert higgsfield.max_in_flight() <= 3
    assert higgsfield.capacity_refusals == []


def test_the_slots_are_counted_in_the_database_not_in_one_process(higgsfield, alice, bob, settings):
    settings.HIGGSFIELD_CONCURRENCY = 2
    higgsfield.queue_seconds = 60
    make_jobs(alice, 1)
    # A job held by another process: what a second worker's claim looks like in the table.
    Generation.objects.filter(owner=alice).update(status=S.SUBMITTED, provider_request_id="elsewhere")
    jobs = make_jobs(bob, 2)
    assert statuses(jobs) == {"queued": 1, "waiting": 1}


def test_a_later_persons_two_jobs_start_as_soon_as_slots_free(higgsfield, alice, bob, run_worker, settings):
    settings.HIGGSFIELD_CONCURRENCY = 4
    higgsfield.work_seconds = 0.5
    burst = make_jobs(alice, 16, "alice's burst")
    later = make_jobs(bob, 2, "bob's pair")
    run_worker(all_final(burst + later), timeout=90)
    order = [s.body["prompt"].split(" ")[0] for s in higgsfield.submissions]
    assert order[:4] == ["alice's"] * 4
    assert order[4:6] == ["bob's", "bob's"]
    assert len(order) == 18


def test_cancelling_a_waiting_job_refunds_it_and_moves_the_line_up(higgsfield, alice, alice_api, settings):
    settings.HIGGSFIELD_CONCURRENCY = 1
    higgsfield.queue_seconds = 60
    first, second, third = make_jobs(alice, 3)
    before = credits_balance(user=alice)
    response = alice_api.post(f"/api/generations/{second.pk}/cancel")
    assert response.json()["status"] == "cancelled"
    assert credits_balance(user=alice) == before + 1
    third.refresh_from_db()
    assert (third.status, third.queue_position, third.stage) == ("waiting", 1, "Next in line")
    assert len(higgsfield.submissions) <= 1


# --- Back-pressure ---


def test_the_400_at_the_accounts_limit_puts_jobs_back_in_line_charged_once(
    higgsfield, alice, run_worker, settings, caplog
):
    settings.HIGGSFIELD_CONCURRENCY = 4
    higgsfield.account_concurrency = 2  # the account's real limit is lower than we were told
    higgsfield.work_seconds = 0.6
    jobs = make_jobs(alice, 6)
    with caplog.at_level(logging.INFO, logger="generation.pool"):
        run_worker(all_final(jobs), timeout=90)
    assert statuses(jobs) == {"completed": 6}
    assert len(higgsfield.submissions) == 6  # one request a job, the refused ones made nothing
    assert higgsfield.max_in_flight() <= 2
    refused = len(higgsfield.capacity_refusals)
    assert refused >= 2
    assert {r.status for r in higgsfield.capacity_refusals} == {400}
    row = SubmissionPool.objects.get()
    assert row.refusals == refused
    charges = CreditEntry.objects.filter(generation__in=jobs).values_list("reason", flat=True)
    assert Counter(charges) == {"charge": 6}
    assert sum("refused generation" in r.getMessage() and "capacity" in r.getMessage() for r in caplog.records) == (
        refused
    )


def test_refusals_that_keep_coming_shrink_the_pool_and_say_so(higgsfield, alice, run_worker, settings, caplog):
    settings.HIGGSFIELD_CONCURRENCY = 4
    settings.HIGGSFIELD_POOL_SHRINK_AFTER = 2
    higgsfield.account_concurrency = 1
    higgsfield.work_seconds = 0.8
    jobs = make_jobs(alice, 5)
    with caplog.at_level(logging.WARNING, logger="generation.pool"):
        run_worker(all_final(jobs), timeout=90)
    assert statuses(jobs) == {"completed": 5}
    assert SubmissionPool.objects.get().limit == 1
    assert any("the pool now keeps at most 1 at once" in r.getMessage() for r in caplog.records)
    # Once lowered, the pool stops asking for more than the account takes.
    last_refusal = max(r.at for r in higgsfield.capacity_refusals)
    later = [s for s in higgsfield.submissions if s.submitted_at > last_refusal]
    assert len(later) >= 1


def test_a_lowered_pool_grows_back_after_a_quiet_while(higgsfield, alice, settings):
    settings.HIGGSFIELD_CONCURRENCY = 3
    settings.HIGGSFIELD_POOL_REGROW_SECONDS = 0
    SubmissionPool.objects.create(name="higgsfield", limit=1)
    higgsfield.queue_seconds = 60
    jobs = make_jobs(alice, 3)
    # Each fill may grow the pool by one slot: made, then two more fills.
    services.generation_pool_fill()
    services.generation_pool_fill()
    assert statuses(jobs) == {"queued": 3}
    assert SubmissionPool.objects.get().limit is None


def test_a_full_queue_429_is_honoured_for_its_retry_after(higgsfield, alice, run_worker, settings):
    settings.HIGGSFIELD_CONCURRENCY = 4
    higgsfield.account_concurrency = 1
    higgsfield.account_queue_multiple = 1  # one running, one waiting at Higgsfield, then 429
    higgsfield.queue_full_retry_after = 1
    higgsfield.work_seconds = 1.0
    jobs = make_jobs(alice, 4)
    run_worker(all_final(jobs), timeout=90)
    assert statuses(jobs) == {"completed": 4}
    assert len(higgsfield.submissions) == 4
    refusals = higgsfield.capacity_refusals
    assert refusals and {r.status for r in refusals} == {429}
    # Each 429 paused our submissions for its Retry-After at least.
    row = SubmissionPool.objects.get()
    assert row.refusals == len(refusals)
    assert row.paused_until - row.last_refusal_at >= timedelta(seconds=1)


def test_while_the_pool_is_paused_no_job_is_sent_and_they_go_when_it_ends(higgsfield, alice, settings):
    settings.HIGGSFIELD_CONCURRENCY = 2
    pool.pool_refused(generation_id=None, status=429, retry_after=30, accepted_elsewhere=0)
    jobs = make_jobs(alice, 2)
    assert statuses(jobs) == {"waiting": 2}
    assert services.generation_pool_fill() == 0
    SubmissionPool.objects.update(paused_until=timezone.now())  # its Retry-After has passed
    assert services.generation_pool_fill() == 2
    assert S.WAITING not in statuses(jobs)


def test_a_job_waits_no_longer_than_the_slot_wait_limit(higgsfield, alice, run_worker, settings):
    settings.HIGGSFIELD_CONCURRENCY = 1
    settings.GENERATION_SLOT_WAIT_LIMIT = 1
    higgsfield.queue_seconds = 60
    first, second = make_jobs(alice, 2)
    before = credits_balance(user=alice)
    time.sleep(1.2)
    services.generations_watchdog()
    second.refresh_from_db()
    assert second.status == "timed_out"
    assert second.error.startswith("It waited longer than")
    assert "Higgsfield slot" in second.error
    assert credits_balance(user=alice) == before + 1


# --- Only what is allowed now ---


def test_a_job_whose_model_was_switched_off_while_it_waited_is_refunded_not_sent(
    higgsfield, alice, run_worker, settings
):
    settings.HIGGSFIELD_CONCURRENCY = 1
    higgsfield.work_seconds = 0.5
    first, second = make_jobs(alice, 2)
    run_worker(lambda: Generation.objects.get(pk=first.pk).provider_request_id != "", timeout=30)
    before = credits_balance(user=alice)
    GenerationModel.objects.filter(name="nano-banana").update(enabled=False)
    run_worker(all_final([first, second]), timeout=30)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("completed", "failed")  # sent before the switch: it runs its course
    assert "switched off" in second.error and "refunded" in second.error
    assert len(higgsfield.submissions) == 1
    assert credits_balance(user=alice) == before + 1


def test_retry_and_another_take_refuse_a_switched_off_model_and_charge_nothing(
    higgsfield, alice, alice_api, run_worker
):
    done = finish(run_worker, make_jobs(alice, 1)[0].pk)
    higgsfield.outcomes.append("failed")
    failed = finish(run_worker, make_jobs(alice, 1, "another lighthouse")[0].pk)
    assert (done.status, failed.status) == ("completed", "failed")
    GenerationModel.objects.filter(name="nano-banana").update(enabled=False)
    before = credits_balance(user=alice)
    response = alice_api.post(f"/api/generations/{failed.pk}/retry")
    assert response.status_code == 422
    assert "Nano Banana is switched off" in response.json()["detail"]
    client = Client()
    client.force_login(alice)
    for path in (f"/generations/{done.pk}/take/", f"/generations/{failed.pk}/retry/"):
        card = client.post(path, headers={"HX-Request": "true"}).content.decode()
        assert "is switched off for now" in card, path
    assert credits_balance(user=alice) == before
    assert Generation.objects.filter(owner=alice).count() == 2


def test_a_retry_is_charged_todays_price(higgsfield, alice, alice_api, run_worker):
    higgsfield.outcomes.append("failed")
    failed = finish(run_worker, make_jobs(alice, 1)[0].pk)
    GenerationModel.objects.filter(name="nano-banana").update(credits=3)
    before = credits_balance(user=alice)
    assert alice_api.post(f"/api/generations/{failed.pk}/retry").status_code == 202
    assert credits_balance(user=alice) == before - 3
