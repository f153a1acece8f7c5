"""A misbehaving Higgsfield (slow, failing, losing answers, answering garbage) ends jobs cleanly: none stays queued
or running, and none becomes two requests: every send of a job carries its Idempotency-Key and the same bytes.

The faults already covered in test_higgsfield_jobs.py (a 429 then a 503 at submit, a 403, failed and nsfw
outcomes, a few status errors, a final answer without a result) are not repeated here; these are the
ones that never stop.
"""

import json
import logging

import pytest

from generation import services
from generation.models import Generation
from generation.tests.conftest import finish, start
from generation.tests.fake_higgsfield import Outcome

pytestmark = pytest.mark.django_db(transaction=True)


# A job from a prompt alone, no option: the faults are Higgsfield's, not the recommender's.
PROMPT_JOB = {"mode": "text-to-image", "model_name": "nano-banana", "prompt": "a lighthouse in a storm at night"}


def assert_nothing_running():
    assert not Generation.objects.filter(status__in=Generation.ACTIVE).exists()


def sends(higgsfield):
    """The submit calls that reached the fake (answered or not)."""
    return [c for c in higgsfield.calls if c.kind == "submit"]


def test_a_submit_that_keeps_failing_with_5xx_is_sent_again_until_the_time_limit_and_refunded(
    higgsfield, alice, alice_api, run_worker, settings
):
    from generation.credits import credits_balance

    settings.GENERATION_IMAGE_TIME_LIMIT = 2
    higgsfield.fail_next("submit", 503, times=1000)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "timed_out"
    assert generation.attempts >= 3
    assert not higgsfield.submissions
    assert credits_balance(user=alice) == 100
    assert_nothing_running()


def test_a_queue_full_that_never_lifts_keeps_the_job_in_line_not_failed(higgsfield, alice, alice_api, run_worker):
    from generation.credits import credits_balance

    higgsfield.fail_next("submit", 429, times=3, body={"code": "account_queue_full"}, headers={"Retry-After": "0"})
    generation_id = start(alice_api, **PROMPT_JOB)
    run_worker(lambda: len(higgsfield.calls) >= 3 and Generation.objects.get(pk=generation_id).attempts >= 3)
    generation = Generation.objects.get(pk=generation_id)
    assert generation.status in ("waiting", "queued", "submitted", "in_progress", "completed")
    generation = finish(run_worker, generation_id, timeout=30)
    assert generation.status == "completed"
    assert len(higgsfield.submissions) == 1
    assert credits_balance(user=alice) == 99  # charged once, for all its sends


def test_a_submit_that_times_out_after_it_went_is_sent_again_and_becomes_that_one_request(
    higgsfield, alice, alice_api, run_worker, settings
):
    from generation.credits import credits_balance

    settings.HIGGSFIELD_TIMEOUT = 0.3
    higgsfield.slow_next("submit", 1.5)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "completed"
    assert generation.attempts >= 2
    assert len(higgsfield.submissions) == 1
    assert higgsfield.submissions[0].idempotency_key == str(generation.id)
    assert generation.provider_request_id == higgsfield.submissions[0].request_id
    assert credits_balance(user=alice) == 99
    assert_nothing_running()


@pytest.mark.parametrize("how", ["hang_up", "no_request_id", "gateway"])
def test_an_answer_lost_after_higgsfield_took_the_job_costs_nothing_twice(
    higgsfield, alice, alice_api, run_worker, how
):
    from generation.credits import credits_balance

    higgsfield.lose_next(how=how)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "completed"
    assert len(higgsfield.submissions) == 1
    assert [r.request_id for r in higgsfield.replays] == [higgsfield.submissions[0].request_id]
    assert generation.provider_request_id == higgsfield.submissions[0].request_id
    assert credits_balance(user=alice) == 99


def test_every_send_of_a_job_is_the_same_request_byte_for_byte(higgsfield, alice_api, run_worker, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # a webhook in the URL, which must not change between sends
    higgsfield.fail_next("submit", 502, times=2)
    higgsfield.lose_next()
    generation_id = start(alice_api, **PROMPT_JOB)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "submitted", timeout=30)
    calls = sends(higgsfield)  # the hung-up send got no answer, so it is no answered call
    assert (len(calls), len(higgsfield.lost_answers)) == (3, 1)
    assert len({c.path for c in calls}) == 1  # the URL, the webhook with it
    assert "hf_webhook=" in calls[0].path
    generation = Generation.objects.get(pk=generation_id)
    assert generation.sent_body and generation.sent_url.endswith(calls[0].path)
    assert higgsfield.submissions[0].body == json.loads(generation.sent_body)
    assert len(higgsfield.submissions) == 1 and len(higgsfield.replays) == 1


def test_a_resend_higgsfield_refuses_as_another_request_fails_the_job_loudly(higgsfield, alice_api, run_worker, caplog):
    higgsfield.lose_next()
    generation_id = start(alice_api, **PROMPT_JOB)
    # The first send, here rather than by the worker, so that its resend cannot go before the body is changed.
    services.generation_submit_step(
        generation_id=generation_id, token=Generation.objects.get(pk=generation_id).track_token
    )
    # What a bug that rebuilt the body between sends would do: the kept submission no longer matches the first.
    generation = Generation.objects.get(pk=generation_id)
    assert generation.attempts == 1 and generation.status == "queued"
    Generation.objects.filter(pk=generation_id).update(sent_body=generation.sent_body.replace("lighthouse", "beacon"))
    with caplog.at_level(logging.ERROR, logger="generation.services"):
        generation = finish(run_worker, generation_id, timeout=30)
    assert generation.status == "failed"
    assert "Idempotency-Key" in generation.error
    assert len(higgsfield.submissions) == 1  # never sent under a new key
    assert any("same Idempotency-Key" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_a_submit_that_could_not_connect_is_sent_again(higgsfield, alice_api, run_worker, settings):
    import socket

    # A port nobody listens on: the connection is refused, so nothing of the request left us.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.HIGGSFIELD_BASE_URL = f"http://127.0.0.1:{closed}"
    settings.OUTBOUND_ALLOW_HOSTS = [f"127.0.0.1:{closed}"]  # on loopback: allowed by name, like the fake
    settings.GENERATION_IMAGE_TIME_LIMIT = 2
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "timed_out"
    assert generation.attempts >= 2


def test_a_worker_lost_mid_send_leaves_a_job_that_is_sent_again_under_its_key(higgsfield, alice_api, run_worker):
    from datetime import timedelta

    from django.utils import timezone

    from generation import services

    higgsfield.lose_next()
    generation_id = start(alice_api, **PROMPT_JOB)
    run_worker(lambda: Generation.objects.get(pk=generation_id).attempts >= 1, timeout=30)
    # The worker died while sending: the job is still marked as sending, its resend plan lost with it.
    long_ago = timezone.now() - timedelta(hours=1)
    Generation.objects.filter(pk=generation_id).update(
        status="queued", sending_since=long_ago, updated_at=long_ago, track_token="lost"
    )
    assert services.generations_watchdog()["resubmitted"] == 1
    generation = finish(run_worker, generation_id, timeout=30)
    assert generation.status == "completed"
    assert len(higgsfield.submissions) == 1


def test_a_job_cancelled_while_its_send_had_no_answer_is_traced_and_cancelled_at_higgsfield_too(
    higgsfield, alice, alice_api, run_worker, settings
):
    from generation.credits import credits_balance

    settings.GENERATION_POLL_FIRST_SECONDS = 2  # the resend waits: time to cancel first
    higgsfield.queue_seconds = 60
    higgsfield.lose_next()
    generation_id = start(alice_api, **PROMPT_JOB)
    run_worker(lambda: Generation.objects.get(pk=generation_id).attempts == 1, timeout=30)
    assert alice_api.post(f"/api/generations/{generation_id}/cancel").json()["status"] == "cancelled"
    assert credits_balance(user=alice) == 100
    # The request Higgsfield took in is found under the job's key and cancelled there: it never runs unpaid for.
    run_worker(lambda: len(higgsfield.cancels) == 1, timeout=30)
    request_id = higgsfield.submissions[0].request_id
    assert [(c.request_id, c.status) for c in higgsfield.cancels] == [(request_id, 202)]
    assert len(higgsfield.submissions) == 1
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.provider_request_id) == ("cancelled", request_id)


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"{not json", b'{"status": "queued"}'])
def test_a_submit_answered_with_garbage_is_sent_again_and_never_left_queued(
    higgsfield, alice_api, run_worker, settings, body
):
    higgsfield.fail_next("submit", 200, times=2, body=body)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "completed"
    assert generation.attempts == 3
    assert len(higgsfield.submissions) == 1
    assert_nothing_running()


def test_a_status_that_keeps_failing_ends_at_the_time_limit(higgsfield, alice_api, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 1
    higgsfield.fail_next("status", 502, times=1000)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "timed_out"
    assert "limit" in generation.error
    assert_nothing_running()


def test_a_status_that_keeps_timing_out_ends_at_the_time_limit(higgsfield, alice_api, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 2
    settings.HIGGSFIELD_TIMEOUT = 0.3
    higgsfield.slow_next("status", 1.0, times=1000)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "timed_out"
    assert_nothing_running()


def test_a_final_status_in_invalid_json_ends_at_the_time_limit(higgsfield, alice_api, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 1
    higgsfield.outcomes.append(Outcome("completed", malformed=b"{not json"))
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "timed_out"
    assert_nothing_running()


def test_a_result_file_that_cannot_be_fetched_does_not_leave_the_job_running(
    higgsfield, alice_api, run_worker, settings
):
    settings.GENERATION_IMAGE_TIME_LIMIT = 2
    higgsfield.fail_next("file", 500, times=1000)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status in ("failed", "timed_out")
    assert generation.error
    assert generation.result_id is None
    assert_nothing_running()


def test_a_result_that_is_not_an_image_fails_the_job_with_the_reason(higgsfield, alice_api, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 2
    higgsfield.files["junk.png"] = b"this is not an image at all"
    higgsfield.outcomes.append(Outcome("completed", result_url=f"{higgsfield.url}/files/junk.png"))
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status in ("failed", "timed_out")
    assert generation.error
    assert generation.result_id is None
    assert_nothing_running()
