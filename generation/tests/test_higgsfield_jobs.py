"""Jobs on Higgsfield, against our fake Higgsfield server: submit, poll, webhooks, faults, cancel, results."""

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from chats.models import Attachment
from generation import services
from generation.higgsfield import HiggsfieldClient, HiggsfieldError
from generation.models import Generation
from generation.tests.conftest import finish, start
from generation.tests.fake_higgsfield import Outcome, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


# --- The client ---


def send(client, body=None, key="job-1"):
    return client.submit(
        client.submission("higgsfield-ai/soul/standard", body or {"prompt": "a lake"}), idempotency_key=key
    )


def test_the_client_sends_our_key_and_reads_a_completed_status(higgsfield):
    with HiggsfieldClient() as client:
        request_id = send(client)
        status = client.status(request_id)
    assert status.status == "completed"
    assert status.result_url.startswith(higgsfield.url)
    assert higgsfield.submissions[0].body == {"prompt": "a lake"}
    assert higgsfield.submissions[0].idempotency_key == "job-1"


@pytest.mark.parametrize(
    ("code", "body", "permanent", "words"),
    [
        (401, None, True, "refused our API key"),
        (403, {"detail": "Not enough credits"}, True, "Not enough credits"),
        (422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}, True, "prompt: field required"),
        (400, {"detail": "bad input"}, True, "bad input"),
        (408, None, False, "408"),
        (500, None, False, "500"),
        (503, None, False, "503"),
    ],
)
def test_the_client_says_which_errors_are_permanent(higgsfield, code, body, permanent, words):
    higgsfield.fail_next("submit", code, body=body)
    with HiggsfieldClient() as client, pytest.raises(HiggsfieldError) as caught:
        send(client)
    assert caught.value.permanent is permanent
    assert caught.value.busy is False
    # Whatever is not a refusal leaves the submission's fate open: it is sent again under the same key.
    assert caught.value.maybe_sent is not permanent
    assert words in str(caught.value)
    assert "test-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("code", "body", "headers", "retry_after"),
    [
        (400, {"detail": "Maximum number of concurrent requests (4) has been reached"}, {}, None),
        (429, {"detail": "Account queue is full", "code": "account_queue_full", "limit": 8}, {"Retry-After": "7"}, 7),
    ],
)
def test_capacity_answers_are_back_pressure_not_failures(higgsfield, code, body, headers, retry_after):
    higgsfield.fail_next("submit", code, body=body, headers=headers)
    with HiggsfieldClient() as client, pytest.raises(HiggsfieldError) as caught:
        send(client)
    assert (caught.value.busy, caught.value.permanent, caught.value.retry_after) == (True, False, retry_after)
    assert "capacity" in str(caught.value)


def test_a_slow_answer_is_a_timeout_worth_a_retry(higgsfield, settings):
    settings.HIGGSFIELD_TIMEOUT = 0.3
    higgsfield.slow_next("submit", 2)
    with HiggsfieldClient() as client, pytest.raises(HiggsfieldError) as caught:
        send(client)
    assert caught.value.permanent is False
    assert caught.value.maybe_sent is True


def test_a_wrong_key_is_refused(higgsfield, settings):
    settings.HIGGSFIELD_KEY_SECRET = "wrong"
    with HiggsfieldClient() as client, pytest.raises(HiggsfieldError) as caught:
        send(client)
    assert caught.value.permanent and caught.value.status == 401


def test_a_submission_is_the_same_bytes_and_url_every_time_it_is_built():
    from generation.higgsfield import submission_build

    body = {"prompt": "a lake · at dusk", "seed": 7, "motions": [{"id": "m", "strength": 1.0}]}
    first = submission_build(
        base_url="https://api.example", path="/dop/standard", body=body, webhook_url="https://h/w?x=1"
    )
    again = submission_build(
        base_url="https://api.example",
        path="dop/standard",
        body=dict(reversed(body.items())),
        webhook_url="https://h/w?x=1",
    )
    assert first.url == "https://api.example/dop/standard?hf_webhook=https%3A%2F%2Fh%2Fw%3Fx%3D1"
    assert first.body == b'{"prompt":"a lake \\u00b7 at dusk","seed":7,"motions":[{"id":"m","strength":1.0}]}'
    # Key order is the dict's: a job's body is built once and kept, so it never comes back in another order.
    assert again.body != first.body and again.url == first.url


def test_polls_start_at_two_seconds_and_grow_to_ten_with_jitter(settings):
    settings.GENERATION_POLL_FIRST_SECONDS, settings.GENERATION_POLL_MAX_SECONDS = 2.0, 10.0
    settings.PUBLIC_BASE_URL = ""
    job = Generation(provider="higgsfield", polls=0)
    first = [services.generation_poll_delay(job) for _ in range(200)]
    assert 1.6 <= min(first) and max(first) <= 2.4 and len(set(first)) > 100  # jittered around 2 s
    job.polls = 3
    assert all(5.4 <= services.generation_poll_delay(job) <= 7.9 for _ in range(50))  # 2 x 1.5^3 = 6.75
    job.polls = 30
    late = [services.generation_poll_delay(job) for _ in range(200)]
    assert 8.0 <= min(late) and max(late) <= 11.5
    settings.PUBLIC_BASE_URL = "https://higgs.example"
    # Webhooks first: a slow safety poll.
    assert services.generation_poll_delay(job) == settings.GENERATION_WEBHOOK_POLL_SECONDS


# --- Jobs ---


def test_a_job_is_submitted_polled_and_its_result_copied_into_our_storage(higgsfield, alice_api, option, run_worker):
    higgsfield.work_seconds = 0.3
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "completed"
    assert generation.provider == "higgsfield"
    sent = higgsfield.submissions[0]
    assert sent.model_id == "higgsfield-ai/soul/standard"
    # Soul standard takes no style id: the style is written into the prompt.
    assert sent.body["prompt"].startswith(option.enhanced_prompt)
    assert f"Style: {option.style.name}" in sent.body["prompt"]
    assert "style_id" not in sent.body
    assert generation.provider_request_id == sent.request_id
    attachment = generation.result
    assert attachment.mime == "image/png"
    assert (attachment.width, attachment.height) == (64, 48)
    with default_storage.open(attachment.file.name, "rb") as handle:
        assert handle.read()[:8] == png_bytes(64, 48)[:8]
    assert higgsfield.status_calls[sent.request_id] >= 2


def test_a_video_result_records_its_duration(higgsfield, alice, alice_api, seed_catalogue, run_worker):
    response = alice_api.post(
        "/api/generations",
        {"mode": "text-to-video", "model_name": "minimax-t2v", "prompt": "waves rolling onto a beach at dawn"},
    )
    generation = finish(run_worker, response.json()["id"])
    assert generation.status == "completed"
    assert generation.result.mime == "video/mp4"
    assert generation.result.duration_ms == 5000
    assert alice_api.get(f"/api/generations/{generation.id}").json()["duration_ms"] == 5000


def test_a_rate_limited_submit_is_retried(higgsfield, alice_api, option, run_worker, settings):
    higgsfield.fail_next("submit", 429, headers={"Retry-After": "0"})
    higgsfield.fail_next("submit", 503)
    generation = finish(run_worker, start(alice_api, option), timeout=30)
    assert generation.status == "completed"
    assert generation.attempts == 3
    assert len(higgsfield.submissions) == 1
    assert higgsfield.submissions[0].idempotency_key == str(generation.id)


def test_no_credits_fails_the_job_at_once_with_the_reason(higgsfield, alice_api, option, run_worker):
    higgsfield.fail_next("submit", 403, body={"detail": "Not enough credits"})
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "failed"
    assert "Not enough credits" in generation.error
    assert generation.attempts == 1


@pytest.mark.parametrize(("outcome", "status"), [("failed", "failed"), ("nsfw", "nsfw")])
def test_failed_and_nsfw_outcomes_end_the_job(higgsfield, alice_api, option, run_worker, outcome, status):
    higgsfield.outcomes.append(Outcome(outcome, error="GPU on fire") if outcome == "failed" else outcome)
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == status
    assert generation.error
    assert not Attachment.objects.filter(option=option).exists()


def test_status_errors_and_garbage_are_polled_again(higgsfield, alice_api, option, run_worker):
    higgsfield.fail_next("status", 500, times=2)
    higgsfield.fail_next("status", 200, body=b"{not json")
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "completed"


def test_a_result_that_never_becomes_readable_ends_at_the_time_limit(
    higgsfield, alice_api, option, run_worker, settings
):
    settings.GENERATION_IMAGE_TIME_LIMIT = 1
    higgsfield.outcomes.append(Outcome("completed", malformed=True))
    generation = finish(run_worker, start(alice_api, option))
    assert generation.status == "timed_out"
    assert generation.error == "It took longer than the 1-second limit for images, so it was stopped."


def test_cancel_while_queued_upstream_cancels_there_and_ignores_the_rest(higgsfield, alice_api, option, run_worker):
    higgsfield.queue_seconds = 30
    generation_id = start(alice_api, option)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "submitted")
    response = alice_api.post(f"/api/generations/{generation_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert [c.request_id for c in higgsfield.cancels] == [higgsfield.submissions[0].request_id]
    run_worker(lambda: True)
    assert Generation.objects.get(pk=generation_id).status == "cancelled"


def test_a_job_already_generating_cannot_be_cancelled(higgsfield, alice_api, option, run_worker):
    higgsfield.work_seconds = 30
    generation_id = start(alice_api, option)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "in_progress")
    response = alice_api.post(f"/api/generations/{generation_id}/cancel")
    assert response.status_code == 409
    assert "already started" in response.json()["detail"]


def test_webhooks_complete_jobs_once_even_when_delivered_twice(
    higgsfield, alice_api, option, run_worker, live_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.GENERATION_WEBHOOK_POLL_SECONDS = 60
    higgsfield.duplicate_webhooks = 2
    higgsfield.work_seconds = 0.3
    generation_id = start(alice_api, option)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status != "queued")
    sent = higgsfield.submissions[0]
    assert sent.webhook_url.startswith(f"{live_server.url}/api/higgsfield/webhook/")
    assert higgsfield.wait_for_webhooks(10)
    generation = finish(run_worker, generation_id)
    assert generation.status == "completed"
    assert len([d for d in higgsfield.webhook_deliveries if d.ok]) == 3
    assert Attachment.objects.filter(option=option).count() == 1
    # Tracking came from the webhook, not from polling.
    assert higgsfield.status_calls[sent.request_id] <= 1


@pytest.mark.parametrize("kind", ["image", "video"])
def test_webhooks_in_the_envelope_shape_complete_jobs_too(
    higgsfield, alice_api, seed_catalogue, run_worker, live_server, settings, kind
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.GENERATION_WEBHOOK_POLL_SECONDS = 60
    higgsfield.webhook_format = "envelope"
    higgsfield.work_seconds = 0.3
    payload = (
        {"mode": "text-to-image", "model_name": "nano-banana", "prompt": "a lighthouse"}
        if kind == "image"
        else {"mode": "text-to-video", "model_name": "minimax-t2v", "prompt": "waves at dawn"}
    )
    generation_id = start(alice_api, **payload)
    run_worker(lambda: Generation.objects.get(pk=generation_id).status != "queued")
    assert higgsfield.wait_for_webhooks(10)
    generation = finish(run_worker, generation_id)
    assert generation.status == "completed"
    assert generation.result.kind == kind
    assert all(d.ok for d in higgsfield.webhook_deliveries)
    assert higgsfield.status_calls[higgsfield.submissions[0].request_id] <= 1


def test_a_webhook_with_an_unknown_token_or_another_request_is_refused(
    higgsfield, alice_api, option, anon_api, run_worker
):
    from django.test import Client

    client = Client()
    assert (
        client.post(
            "/api/higgsfield/webhook/nope", {"status": "completed"}, content_type="application/json"
        ).status_code
        == 404
    )
    higgsfield.work_seconds = 30
    generation_id = start(alice_api, option)
    token = Generation.objects.get(pk=generation_id).webhook_token
    run_worker(lambda: Generation.objects.get(pk=generation_id).status != "queued")
    response = client.post(
        f"/api/higgsfield/webhook/{token}",
        {"status": "completed", "request_id": "someone-else"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Generation.objects.get(pk=generation_id).status in ("submitted", "in_progress")


def test_a_webhook_that_overtakes_its_submission_is_asked_again_and_changes_nothing(alice_api, option):
    """A quick job's delivery can arrive before the worker has saved the request id Higgsfield gave it: the
    sender is told to deliver again (409, which a webhook sender retries), and the job is left as it was."""
    from django.test import Client

    generation_id = start(alice_api, option)
    token = Generation.objects.get(pk=generation_id).webhook_token
    response = Client().post(
        f"/api/higgsfield/webhook/{token}",
        {"status": "completed", "request_id": "not-known-yet"},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "still being submitted" in response.json()["detail"]
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.provider_request_id) == ("queued", "")


def test_sync_catalog_imports_higgsfields_lists(higgsfield, db):
    from generation.models import Motion, Style

    higgsfield.styles = [
        {"id": "5d0ab1b5-4b64-4f1f-9cb2-52e4b2b0f1a1", "name": "Dusk", "description": "", "preview_url": ""}
    ]
    higgsfield.motions = [
        {
            "id": "7a5b8e3c-0c1d-4b8e-9f3a-2d6c1e4f5a6b",
            "name": "Orbit",
            "description": "Around.",
            "preview_url": "",
            "start_end_frame": True,
        }
    ]
    call_command("sync_catalog")
    assert Style.objects.get().name == "Dusk"
    assert Motion.objects.get().start_end_frame is True


def test_the_first_run_with_keys_syncs_the_catalogue_from_higgsfield_once(higgsfield, db):
    from generation.models import CatalogueSync, Style

    higgsfield.styles = [
        {"id": "5d0ab1b5-4b64-4f1f-9cb2-52e4b2b0f1a1", "name": "Dusk", "description": "", "preview_url": ""}
    ]
    call_command("prepare_catalogue")
    assert list(Style.objects.values_list("name", flat=True)) == ["Dusk"]
    assert CatalogueSync.objects.filter(kind="styles_motions").count() == 1
    catalogue_calls = [c for c in higgsfield.calls if c.kind == "catalogue"]
    assert [c.status for c in catalogue_calls] == [200, 200]
    # Synced once: the next start leaves the catalogue to staff and sync_catalog.
    higgsfield.styles = []
    call_command("prepare_catalogue")
    assert Style.objects.count() == 1


def test_the_first_run_without_keys_loads_the_starter_catalogue(db, settings):
    from generation.models import Motion, Style

    settings.HIGGSFIELD_KEY_ID = settings.HIGGSFIELD_KEY_SECRET = ""
    call_command("prepare_catalogue")
    assert Style.objects.count() == 106 and Motion.objects.count() == 121


def test_the_catalogue_lists_are_asked_for_with_our_agent_and_either_key_form(higgsfield, settings):
    # The fake, like Higgsfield, refuses generic agents and a wrong key in either header form.
    with HiggsfieldClient() as client:
        client.catalogue()
    settings.HIGGSFIELD_KEY_SECRET = "wrong"
    with HiggsfieldClient() as client, pytest.raises(HiggsfieldError) as caught:
        client.catalogue()
    assert caught.value.status == 401


def test_sync_catalog_refuses_garbage_and_changes_nothing(higgsfield, seed_catalogue):
    from django.core.management.base import CommandError

    from generation.models import Style

    higgsfield.styles = [{"id": "not-a-uuid", "name": "x", "description": "", "preview_url": ""}]
    before = Style.objects.count()
    with pytest.raises(CommandError, match="not a valid UUID"):
        call_command("sync_catalog")
    assert Style.objects.count() == before
