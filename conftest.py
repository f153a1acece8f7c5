"""Fixtures shared by every app's tests: named people, API clients, the catalogue snapshot."""

import json

import pytest
from django.test import Client


class ApiClient(Client):
    """A test client that speaks JSON and carries a bearer token."""

    def __init__(self, token=None, **kwargs):
        super().__init__(**kwargs)
        self.token = token

    def _headers(self, extra):
        headers = dict(extra.pop("headers", None) or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def get(self, path, data=None, **extra):
        return super().get(path, data, headers=self._headers(extra), **extra)

    def delete(self, path, **extra):
        return super().delete(path, headers=self._headers(extra), **extra)

    def post(self, path, data=None, **extra):
        return super().post(
            path,
            json.dumps(data if data is not None else {}),
            content_type="application/json",
            headers=self._headers(extra),
            **extra,
        )

    def patch(self, path, data=None, **extra):
        return super().patch(
            path,
            json.dumps(data if data is not None else {}),
            content_type="application/json",
            headers=self._headers(extra),
            **extra,
        )


def _make_user(username, **fields):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password="correct horse battery", **fields)


@pytest.fixture
def alice(db):
    return _make_user("alice")


@pytest.fixture
def bob(db):
    return _make_user("bob")


def _client_for(user):
    from chats.services import api_token_create

    _, raw = api_token_create(user=user, name="tests")
    return ApiClient(token=raw)


@pytest.fixture
def alice_api(alice):
    return _client_for(alice)


@pytest.fixture
def bob_api(bob):
    return _client_for(bob)


@pytest.fixture
def anon_api(db):
    return ApiClient()


@pytest.fixture
def higgsfield(settings):
    """Our fake Higgsfield on loopback, with the settings pointing at it."""
    from generation.tests.fake_higgsfield import FakeHiggsfield

    server = FakeHiggsfield(key_id="test-id", key_secret="test-secret").start()
    settings.HIGGSFIELD_KEY_ID = "test-id"
    settings.HIGGSFIELD_KEY_SECRET = "test-secret"
    settings.HIGGSFIELD_BASE_URL = server.url
    settings.HIGGSFIELD_TIMEOUT = 2.0
    # The fake is on loopback: allowed by name, as a private deployment would allow its own hosts.
    settings.OUTBOUND_ALLOW_HOSTS = [*settings.OUTBOUND_ALLOW_HOSTS, server.url.removeprefix("http://")]
    yield server
    server.stop()


@pytest.fixture
def seed_catalogue(db):
    """Higgsfield's whole catalogue as our snapshot in generation/catalog/ has it (106 styles, 121 motions)."""
    from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir

    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
    return catalogue_import(styles=styles, motions=motions)


def parse_sse(body: str) -> list[tuple[str, dict]]:
    """Server-sent events as (event, data) pairs; comments (keep-alives) are skipped."""
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        name = next((line[7:] for line in lines if line.startswith("event: ")), "message")
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


def run_tasks_until(predicate, timeout: float = 15.0) -> None:
    """Run due background tasks in this process until predicate() holds (fail after `timeout` seconds)."""
    import time

    from django_tasks_db.management.commands.db_worker import Worker

    deadline = time.monotonic() + timeout
    while True:
        Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="tests",
            excluded_queue_names=[],
        ).run()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the jobs did not get there in time")
        time.sleep(0.03)


@pytest.fixture
def run_worker():
    return run_tasks_until


@pytest.fixture
def fast_generation(settings, tmp_path):
    """Jobs that finish in a blink: quick polls, a preview provider without delay, media in a temp folder."""
    settings.GENERATION_POLL_FIRST_SECONDS = 0.05
    settings.GENERATION_POLL_MAX_SECONDS = 0.2
    settings.GENERATION_WATCHDOG_SECONDS = 0.2
    settings.PREVIEW_QUEUE_SECONDS = 0.0
    settings.PREVIEW_WORK_SECONDS = 0.1
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def page(app, seed_catalogue, request):
    """A Chromium tab for a browser test module's `app` (its server's base URL), with the catalogue loaded;
    its last page is saved as artifacts/screenshots/<test name>.png."""
    from higgs_project.testing import browser_tab

    with browser_tab(request.node.name) as tab:
        yield tab


@pytest.fixture
def claude(settings):
    """Our fake Anthropic server on loopback, with the settings pointing at it."""
    from recommender.tests.fake_anthropic import FakeAnthropic

    server = FakeAnthropic(api_key="test-key").start()
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.ANTHROPIC_MAX_RETRIES = 2
    settings.ANTHROPIC_TIMEOUT = 5
    yield server
    server.stop()
