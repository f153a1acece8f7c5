"""A job is sent to Higgsfield once: duplicate or stale submit steps stop, and the watchdog waits out a slow submit."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from generation import services
from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)


def new_job(alice, prompt="a lighthouse at dusk"):
    generation, _ = services.generation_request(
        owner=alice, kind="text_to_image", model_key="nano-banana", prompt=prompt
    )
    return Generation.objects.get(pk=generation.pk)


def submit_in_thread(generation_id, token):
    def run():
        try:
            services.generation_submit_step(generation_id=generation_id, token=token)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_two_steps_holding_the_same_plan_submit_once(higgsfield, alice):
    job = new_job(alice)
    higgsfield.slow_next("submit", 1.0)
    threads = [submit_in_thread(job.pk, job.track_token) for _ in range(2)]
    for thread in threads:
        thread.join(10)
    assert len(higgsfield.submissions) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("submitted", 1)


def test_a_stale_plan_never_submits(higgsfield, alice):
    job = new_job(alice)
    stale = job.track_token
    # Its plan looks dropped, so the watchdog plans the submission again.
    Generation.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert services.generations_watchdog()["resubmitted"] == 1
    services.generation_submit_step(generation_id=job.pk, token=stale)
    assert higgsfield.submissions == []
    services.generation_submit_step(generation_id=job.pk, token=Generation.objects.get(pk=job.pk).track_token)
    assert len(higgsfield.submissions) == 1


def test_the_watchdog_leaves_a_slow_submit_alone_and_replans_a_dropped_one(higgsfield, alice, settings):
    settings.HIGGSFIELD_TIMEOUT = 5
    in_flight = new_job(alice, "a slow one")
    dropped = new_job(alice, "a dropped one")
    # One was claimed a few seconds ago and is still waiting on the provider; the other's worker died long ago.
    Generation.objects.filter(pk=in_flight.pk).update(updated_at=timezone.now() - timedelta(seconds=8))
    Generation.objects.filter(pk=dropped.pk).update(updated_at=timezone.now() - timedelta(seconds=60))
    assert services.generations_watchdog()["resubmitted"] == 1
    assert Generation.objects.get(pk=in_flight.pk).track_token == in_flight.track_token
    assert Generation.objects.get(pk=dropped.pk).track_token != dropped.track_token
