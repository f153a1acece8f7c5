"""A misbehaving Higgsfield (slow, failing, answering garbage) ends jobs cleanly: none stays queued or running.

The faults already covered in test_higgsfield_jobs.py (a 429 then a 503 at submit, a 403, failed and nsfw
outcomes, a few status errors, a final answer without a result) are not repeated here; these are the
ones that never stop.
"""

import pytest

from generation.models import Generation
from generation.tests.conftest import finish, start
from generation.tests.fake_higgsfield import Outcome

pytestmark = pytest.mark.django_db(transaction=True)


# A job from a prompt alone, no option: the faults are Higgsfield's, not the recommender's.
PROMPT_JOB = {"mode": "text-to-image", "model_name": "nano-banana", "prompt": "a lighthouse in a storm at night"}


def assert_nothing_running():
    assert not Generation.objects.filter(status__in=Generation.ACTIVE).exists()


def test_a_submit_that_keeps_failing_with_5xx_ends_failed_after_the_last_try(
    higgsfield, alice_api, run_worker, settings
):
    settings.GENERATION_SUBMIT_ATTEMPTS = 3
    higgsfield.fail_next("submit", 503, times=50)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error
    assert generation.attempts == 3
    assert not higgsfield.submissions
    assert_nothing_running()


def test_a_rate_limit_that_never_lifts_ends_the_job_failed(higgsfield, alice_api, run_worker, settings):
    settings.GENERATION_SUBMIT_ATTEMPTS = 2
    higgsfield.fail_next("submit", 429, times=50, headers={"Retry-After": "0"})
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error
    assert_nothing_running()


def test_a_submit_that_times_out_after_it_went_is_not_sent_again_and_is_refunded(
    higgsfield, alice, alice_api, run_worker, settings
):
    from generation.credits import credits_balance

    settings.HIGGSFIELD_TIMEOUT = 0.3
    settings.GENERATION_SUBMIT_ATTEMPTS = 5
    higgsfield.slow_next("submit", 1.5, times=50)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert generation.status == "unconfirmed"
    assert generation.attempts == 1
    assert "could not confirm that Higgsfield received" in generation.error
    assert "refunded" in generation.error
    assert credits_balance(user=alice) == 100
    assert_nothing_running()


@pytest.mark.parametrize("code", [500, 502, 504])
def test_a_submit_answered_with_a_gateway_failure_is_not_sent_again(higgsfield, alice_api, run_worker, code):
    higgsfield.fail_next("submit", code, times=5)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "unconfirmed"
    assert generation.attempts == 1


def test_a_submit_that_could_not_connect_is_sent_again(higgsfield, alice_api, run_worker, settings):
    import socket

    # A port nobody listens on: the connection is refused, so nothing of the request left us.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.HIGGSFIELD_BASE_URL = f"http://127.0.0.1:{closed}"
    settings.OUTBOUND_ALLOW_HOSTS = [f"127.0.0.1:{closed}"]  # on loopback: allowed by name, like the fake
    settings.GENERATION_SUBMIT_ATTEMPTS = 2
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.attempts == 2
    assert "could not be reached" in generation.error


def test_the_person_may_retry_an_unconfirmed_job_on_purpose(higgsfield, alice_api, run_worker, settings):
    settings.HIGGSFIELD_TIMEOUT = 0.3
    higgsfield.slow_next("submit", 1.5)
    first = finish(run_worker, start(alice_api, **PROMPT_JOB), timeout=30)
    assert first.status == "unconfirmed"
    retried = alice_api.post(f"/api/generations/{first.id}/retry")
    assert retried.status_code == 202
    assert finish(run_worker, retried.json()["id"]).status == "completed"


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"{not json", b'{"status": "queued"}'])
def test_a_submit_answered_with_garbage_does_not_leave_the_job_queued(
    higgsfield, alice_api, run_worker, settings, body
):
    settings.GENERATION_SUBMIT_ATTEMPTS = 2
    higgsfield.fail_next("submit", 200, times=50, body=body)
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error
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
