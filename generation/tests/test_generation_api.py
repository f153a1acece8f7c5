"""Generations through the API: the contract's generate, the jobs routes, cancel, retry, results in the chat."""

import pytest
from django.core.files.storage import default_storage

from chats import services as chat_services
from chats.models import Attachment, Option
from generation import services
from generation.models import CreditEntry, Generation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def option(alice, seed_catalogue):
    chat = chat_services.chat_create(owner=alice, title="Generate")
    reply = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains")
    return reply.options.first()


def job(api, generation_id):
    return api.get(f"/api/generations/{generation_id}").json()


def final(api, run_worker, generation_id):
    run_worker(lambda: Generation.objects.get(pk=generation_id).is_final)
    return job(api, generation_id)


def test_a_plan_is_the_job_a_request_makes_and_writes_nothing(alice, option):
    plan = services.generation_plan(owner=alice, option=option, kind=option.kind, model_key=option.model_key)
    assert (plan.model_key, plan.prompt) == (option.model_key, " ".join(option.enhanced_prompt.split()))
    assert plan.style["id"] == str(option.style_id)
    assert not Generation.objects.exists()
    assert not CreditEntry.objects.filter(reason="charge").exists()

    job, created = services.generation_request(owner=alice, option=option, kind=option.kind, model_key=option.model_key)
    assert created
    assert (job.dedupe_key, job.provider_input, job.notes) == (plan.dedupe_key, plan.body, plan.notes)
    assert CreditEntry.objects.filter(reason="charge", generation=job).count() == 1


def test_a_job_from_an_option_runs_on_the_preview_provider_and_lands_in_the_chat(alice_api, option, run_worker):
    response = alice_api.post("/api/generations", {"option_id": str(option.id)})
    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "queued"
    assert started["provider"] == "preview"
    assert started["model_key"] == option.model_key
    done = final(alice_api, run_worker, started["id"])
    assert done["status"] == "completed"
    assert done["mime"] == "image/png"
    assert done["width"] and done["height"]
    assert done["url"].startswith("http://testserver/media/results/")
    attachment = Attachment.objects.get(option=option)
    assert default_storage.exists(attachment.file.name)
    listed = alice_api.get(f"/api/attachments/by-chat/{option.message.chat_id}").json()["items"]
    assert [a["option_id"] for a in listed] == [str(option.id)]
    assert listed[0]["storage_url"] == done["url"]
    assert Option.objects.get(pk=option.pk).result_url
    options = alice_api.get(f"/api/messages/{option.message_id}/options").json()
    assert next(o for o in options if o["id"] == str(option.id))["result_url"] == done["url"]
    # The reply that offered the option shows the result after a reload.
    messages = alice_api.get(f"/api/chats/{option.message.chat_id}/messages").json()["items"]
    chunk = messages[1]["render_payload"][-1]
    assert chunk["type"] == "image" and chunk["imageUrl"] == done["url"]
    assert chunk["option_id"] == str(option.id)


def test_the_contracts_generate_waits_and_answers_the_url(alice_api, option, settings, run_worker):
    import threading

    settings.GENERATION_WAIT_SECONDS = 20
    from django.db import connection

    stop = threading.Event()

    def worker():
        while not stop.is_set():
            run_worker(lambda: True)
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        response = alice_api.post(
            "/api/higgsfield/generate",
            {"option_id": str(option.id), "mode": "text-to-image", "model_name": "seedream", "quality": "basic"},
        )
    finally:
        stop.set()
        thread.join()
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["url"].startswith("http://testserver/media/")
    assert body["preview_url"] == body["url"]
    assert body["status"] == "completed"
    # The attachment is saved before the answer: the client lists it right after.
    items = alice_api.get(f"/api/attachments/by-chat/{option.message.chat_id}").json()["items"]
    assert items[0]["option_id"] == str(option.id)
    # A second call answers with that result at once.
    again = alice_api.post("/api/higgsfield/generate", {"option_id": str(option.id), "mode": "text-to-image"})
    assert again.status_code == 200
    assert again.json()["generation_id"] == body["generation_id"]
    assert Generation.objects.count() == 1


def test_generate_answers_202_with_the_job_when_it_runs_past_the_wait(alice_api, option, settings):
    settings.GENERATION_WAIT_SECONDS = 0.3
    response = alice_api.post("/api/higgsfield/generate", {"option_id": str(option.id), "mode": "text-to-image"})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_a_double_click_makes_one_generation(alice_api, option):
    first = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    second = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    assert first["id"] == second["id"]
    assert Generation.objects.count() == 1


def test_other_parameters_make_another_generation(alice_api, option):
    first = alice_api.post("/api/generations", {"option_id": str(option.id), "seed": 1}).json()
    second = alice_api.post("/api/generations", {"option_id": str(option.id), "seed": 2}).json()
    assert first["id"] != second["id"]


def test_a_style_the_requested_model_takes_no_id_for_is_written_into_its_prompt_and_said(alice_api, option):
    assert option.kind == "text_to_image" and option.style_id
    body = alice_api.post(
        "/api/generations", {"option_id": str(option.id), "mode": "text-to-image", "model_name": "nano-banana"}
    ).json()
    assert body["model_key"] == "nano-banana"
    assert body["style_id"] == str(option.style_id)
    assert f"Style: {option.style.name}" in Generation.objects.get(pk=body["id"]).provider_input["prompt"]
    assert "written into the prompt" in body["notes"][0]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"mode": "image-to-video", "model_name": "kling-2-5"}, "needs an image"),
        ({"mode": "text-to-image", "model_name": "kling-2-5"}, "does not do text-to-image"),
        ({"mode": "text-to-image", "model_name": "no-such-model"}, "Unknown model"),
        (
            {"mode": "text-to-image", "model_name": "nano-banana", "parameters": {"quality": "basic"}},
            "cannot take quality",
        ),
        ({"mode": "text-to-image", "model_name": "soul", "aspect_ratio": "7:3"}, "aspect_ratio must be one of"),
        (
            {"mode": "text-to-image", "model_name": "seedream", "parameters": {"seed": 0}},
            "seed must be a whole number from 1",
        ),
        ({"mode": "text-to-image", "model_name": "nano-banana", "parameters": {"seed": 1}}, "cannot take seed"),
    ],
)
def test_impossible_requests_are_refused_before_anything_is_spent(alice_api, option, payload, words):
    response = alice_api.post("/api/generations", {"option_id": str(option.id), **payload})
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert Generation.objects.count() == 0


def test_a_prompt_alone_makes_a_generation_without_an_option(alice_api, run_worker, db):
    response = alice_api.post(
        "/api/generations", {"mode": "text-to-video", "model_name": "minimax-t2v", "prompt": "waves at dawn"}
    )
    assert response.status_code == 202
    done = final(alice_api, run_worker, response.json()["id"])
    assert done["status"] == "completed"
    assert done["mime"] == "video/mp4"
    assert done["duration_ms"] > 0


def test_cancel_while_queued_then_a_late_result_is_ignored(alice_api, option, run_worker):
    started = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    cancelled = alice_api.post(f"/api/generations/{started['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    run_worker(lambda: True)
    assert job(alice_api, started["id"])["status"] == "cancelled"
    assert not Attachment.objects.exists()
    again = alice_api.post(f"/api/generations/{started['id']}/cancel")
    assert again.status_code == 409


def test_a_failed_job_can_be_retried(alice_api, option, run_worker, settings):
    settings.PREVIEW_OUTCOME = "failed"
    started = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    failed = final(alice_api, run_worker, started["id"])
    assert failed["status"] == "failed"
    assert failed["error"]
    settings.PREVIEW_OUTCOME = "completed"
    retried = alice_api.post(f"/api/generations/{started['id']}/retry")
    assert retried.status_code == 202
    assert retried.json()["retry_of"] == started["id"]
    assert final(alice_api, run_worker, retried.json()["id"])["status"] == "completed"
    assert alice_api.post(f"/api/generations/{retried.json()['id']}/retry").status_code == 409


def test_nsfw_is_its_own_final_state(alice_api, option, run_worker, settings):
    settings.PREVIEW_OUTCOME = "nsfw"
    started = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    assert final(alice_api, run_worker, started["id"])["status"] == "nsfw"


def test_a_job_past_its_time_limit_ends_timed_out_with_a_message(alice_api, option, run_worker, settings):
    settings.GENERATION_IMAGE_TIME_LIMIT = 0
    started = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    done = final(alice_api, run_worker, started["id"])
    assert done["status"] == "timed_out"
    assert "limit" in done["error"]


def test_the_list_by_chat_and_ownership(alice_api, bob_api, option):
    started = alice_api.post("/api/generations", {"option_id": str(option.id)}).json()
    listed = alice_api.get(f"/api/generations?chat={option.message.chat_id}").json()
    assert [g["id"] for g in listed["items"]] == [started["id"]]
    assert bob_api.get(f"/api/generations/{started['id']}").status_code == 404
    assert bob_api.post(f"/api/generations/{started['id']}/cancel").status_code == 404
    assert bob_api.post("/api/generations", {"option_id": str(option.id)}).status_code == 404
    assert bob_api.get("/api/generations").json()["items"] == []
