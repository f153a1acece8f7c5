"""Fuzzing the JSON API from its own OpenAPI schema (schemathesis): no 5xx, and every answer as documented.

Each operation gets requests that schemathesis generates from /api/openapi.json (its examples, its
coverage of the edges of each field, then random valid and invalid data), sent to the app in this
process as alice with a bearer token. Path ids and option ids are swapped for alice's real objects in
about half the requests, so the fuzzing reaches the code behind the 404s too. Every answer is checked:
not a server error, a documented status, a documented content type, a body that matches its schema.
The seed is fixed, so a run in CI is the same run as on a laptop. Jobs go to the local preview provider
and are never worked (their tasks wait for a commit that never comes), so nothing leaves the machine.
"""

import hashlib
import json
import time
from collections import Counter

import pytest
import schemathesis
from django.test.client import ClientHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chats.services import api_token_create
from generation.providers import PREVIEW, provider_name

# alice's objects and the quick settings of the authorization matrix (fixtures).
from higgs_project.tests.test_authorization_matrix import media_file, quick, staff, world  # noqa: F401

pytestmark = pytest.mark.django_db

# Fuzzing-phase examples per operation; with the examples and coverage phases this makes about 1,300
# requests over the 26 operations (at least 1,000 are required, see the last test).
MAX_EXAMPLES = 30
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class InTransactionApp:
    """The project as a WSGI app, run the way Django's test client runs it: inside the test's transaction."""

    def __init__(self):
        self.handler = ClientHandler(enforce_csrf_checks=True)

    def __call__(self, environ, start_response):
        response = self.handler(environ)
        headers = [*response.items(), *(("Set-Cookie", c.OutputString()) for c in response.cookies.values())]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [b"".join(response) if response.streaming else response.content]


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261126,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", InTransactionApp(), config=CONFIG)

# alice's real objects by parameter name, filled per test by `known`.
KNOWN: dict[str, list[str]] = {}
TALLY = {"requests": 0, "seconds": 0.0, "operations": set(), "answers": Counter()}


def _real(name: str, value):
    """alice's object for about half the generated values of `name` (decided by the value, so runs repeat)."""
    choices = KNOWN.get(name)
    if not choices or not isinstance(value, str):
        return value
    pick = int(hashlib.sha256(value.encode()).hexdigest(), 16) % (2 * len(choices))
    return choices[pick] if pick < len(choices) else value


@schema.hook
def map_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict):
        return path_parameters
    return {name: _real(name, value) for name, value in path_parameters.items()}


@schema.hook
def map_query(context, query):
    if not isinstance(query, dict):
        return query
    return {name: _real({"chat": "chat_id", "option": "option_id"}.get(name, ""), v) for name, v in query.items()}


@schema.hook
def map_body(context, body):
    if isinstance(body, dict) and "option_id" in body:
        return {**body, "option_id": _real("option_id", body["option_id"])}
    return body


@pytest.fixture
def known(request, settings):
    """alice's token, her objects for the hooks, and settings that keep every request quick and local."""
    settings.GENERATION_WAIT_SECONDS = 0  # the blocking generate answers 202 at once: no worker runs here
    assert provider_name() == PREVIEW  # no Higgsfield keys: nothing is spent
    assert not settings.ANTHROPIC_API_KEY or settings.ANTHROPIC_BASE_URL  # the offline recommender, or a fake
    objects = request.getfixturevalue("world")
    KNOWN.clear()
    KNOWN.update(
        chat_id=[str(objects.chat.pk)],
        message_id=[str(objects.reply.pk)],
        option_id=[str(objects.option.pk)],
        upload_id=[str(objects.attachment.pk)],
        generation_id=[str(g.pk) for g in (objects.generation, objects.failed, objects.done)],
    )
    _, raw = api_token_create(user=objects.alice, name="fuzz")
    yield {"world": objects, "headers": {"Authorization": f"Bearer {raw}", "Accept-Encoding": "identity"}}
    KNOWN.clear()


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_answer_is_documented_and_none_is_a_server_error(case, known):
    started = time.perf_counter()
    try:
        response = case.call_and_validate(headers=known["headers"], checks=CHECKS)
        TALLY["answers"][f"{response.status_code // 100}xx"] += 1
    finally:
        TALLY["requests"] += 1
        TALLY["seconds"] += time.perf_counter() - started
        TALLY["operations"].add(case.operation.label)


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    token=st.one_of(st.text(min_size=1, max_size=120).filter(lambda t: "/" not in t and "?" not in t), st.none()),
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
            ),
            max_leaves=10,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_the_webhook_answers_garbage_with_a_4xx_never_a_5xx(client, known, token, body):
    # The webhook is left out of the schema (only Higgsfield calls it): fuzzed here with a real job's token
    # (`None`) or any other, and any body.
    token = token if token is not None else known["world"].generation.webhook_token
    from urllib.parse import quote

    response = client.post(f"/api/higgsfield/webhook/{quote(token, safe='')}", body, content_type="application/json")
    assert response.status_code < 500, response.content
    assert "detail" in response.json() or response.json() == {"ok": True}
    TALLY["requests"] += 1


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("post", "/api/chats", {"title": "a\x00b"}),
        ("patch", "/api/chats/{chat}", {"title": "a\x00b"}),
        ("post", "/api/chats/{chat}/messages", {"text": "a\x00b"}),
        ("post", "/api/attachments/presign", {"file_name": "a\x00.png", "content_type": "image/png", "size": 3}),
        ("post", "/api/generations", {"mode": "text-to-image", "model_name": "soul", "prompt": "a\x00b"}),
        ("get", "/api/chats?cursor=a%00b", None),
        ("post", "/api/higgsfield/webhook/a%00b", {}),
        ("post", "/api/higgsfield/webhook/{webhook}", {"status": "failed", "error": "a\x00b"}),
    ],
)
def test_text_with_a_nul_character_is_refused_not_a_server_error(known, alice_api, method, url, body):
    # PostgreSQL cannot store NUL in text: found by the fuzzing above on PostgreSQL.
    objects = known["world"]
    url = url.format(chat=objects.chat.pk, webhook=objects.generation.webhook_token)
    response = alice_api.get(url) if body is None else getattr(alice_api, method)(url, body)
    assert response.status_code in (400, 404), response.content
    assert response.json()["detail"]


@pytest.mark.parametrize("status, code", [("failed", 502), ("nsfw", 422), ("timed_out", 504), ("cancelled", 409)])
def test_the_blocking_generate_answers_a_job_that_ended_without_a_result_as_documented(
    known, alice_api, monkeypatch, status, code
):
    # These answers were missing from the route's responses, so ninja refused them: a 500 instead.
    from chats.models import Option
    from generation import api as generation_api
    from generation.models import Generation

    objects = known["world"]
    option = Option.objects.create(
        message=objects.reply, kind="text_to_image", model_key="soul", enhanced_prompt="A city.", reason="Fits."
    )
    Generation.objects.filter(pk=objects.failed.pk).update(status=status, error="It ended.")
    ended = Generation.objects.get(pk=objects.failed.pk)
    monkeypatch.setattr(generation_api, "_request", lambda request, **kwargs: (ended, False))
    response = alice_api.post("/api/higgsfield/generate", {"option_id": str(option.pk), "mode": "text-to-image"})
    assert response.status_code == code, response.content
    assert response.json() == {"detail": "It ended.", "generation_id": str(ended.pk), "status": status}


def test_the_fuzzing_made_at_least_1000_requests(request):
    """Runs after the fuzzing above (file order); skipped when only part of it was selected."""
    operations = {op.ok().label for op in schema.get_all_operations()}
    if not operations <= TALLY["operations"]:
        pytest.skip("only part of the fuzzing ran")
    answers = ", ".join(f"{n} {status}" for status, n in sorted(TALLY["answers"].items()))
    summary = (
        f"API fuzzing: {TALLY['requests']} requests over {len(operations)} operations and the webhook "
        f"(schema operations answered {answers}), {TALLY['seconds']:.1f} s in the app"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(summary)
    assert TALLY["requests"] >= MIN_REQUESTS, summary
