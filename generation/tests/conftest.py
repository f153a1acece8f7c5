"""Fixtures for generation tests: quick clocks and an option to generate (the fake Higgsfield and the
in-process worker: root conftest)."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from chats import services as chat_services
from generation.models import Generation


@pytest.fixture(autouse=True)
def fast_clocks(fast_generation):
    """Every generation test runs on quick clocks (see fast_generation in the root conftest)."""


@pytest.fixture
def option(alice, seed_catalogue):
    """The Higgsfield Soul option of an offline reply to a plain idea."""
    chat = chat_services.chat_create(owner=alice, title="Generations")
    reply = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains")
    return reply.options.get(model_key="soul")


def start(api, option=None, **payload):
    """Start a job through the API, from the option or from the payload alone; returns its id."""
    if option is not None:
        payload = {"option_id": str(option.id), **payload}
    response = api.post("/api/generations", payload)
    assert response.status_code == 202, response.content
    return response.json()["id"]


def finish(run_worker, generation_id, timeout=20):
    """Run the worker until the job ends; returns it with its result."""
    run_worker(lambda: Generation.objects.get(pk=generation_id).is_final, timeout=timeout)
    return Generation.objects.select_related("result").get(pk=generation_id)


def photo_options(api, data: bytes, text: str) -> tuple[list[dict], dict]:
    """Upload a PNG as the API's clients do (presign, then PUT), send it with `text` in a new chat, and return
    the reply's options (all image-to-video) and the upload ticket."""
    ticket = api.post(
        "/api/attachments/presign", {"file_name": "photo.png", "content_type": "image/png", "size": len(data)}
    ).json()
    assert Client().put(urlsplit(ticket["upload_url"]).path, data, content_type="image/png").status_code == 200
    chat = api.post("/api/chats", {"title": None}).json()
    reply = api.post(
        f"/api/chats/{chat['id']}/messages", {"text": text, "attachments": [ticket["download_url"]]}
    ).json()["message"]
    options = api.get(f"/api/messages/{reply['id']}/options").json()
    assert options and all(o["tool_type"] == "image_to_video" for o in options)
    return options, ticket
