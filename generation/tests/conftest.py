"""Fixtures for generation tests: quick clocks and an option to generate (the fake Higgsfield and the
in-process worker: root conftest)."""

import pytest

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
