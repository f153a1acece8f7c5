"""Fixtures for generation tests: fast clocks, a worker run in-process, the fake Higgsfield."""

import time

import pytest
from django_tasks_db.management.commands.db_worker import Worker

from generation.tests.fake_higgsfield import FakeHiggsfield


@pytest.fixture(autouse=True)
def fast_clocks(settings, tmp_path):
    settings.GENERATION_POLL_FIRST_SECONDS = 0.05
    settings.GENERATION_POLL_MAX_SECONDS = 0.2
    settings.GENERATION_WATCHDOG_SECONDS = 0.2
    settings.PREVIEW_QUEUE_SECONDS = 0.0
    settings.PREVIEW_WORK_SECONDS = 0.1
    settings.MEDIA_ROOT = tmp_path / "media"


def _drain(predicate, timeout):
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
    """Run due tasks in this process until predicate() holds (or fail after `timeout` seconds)."""

    def run(predicate, timeout=15.0):
        _drain(predicate, timeout)

    return run


@pytest.fixture
def higgsfield(settings):
    server = FakeHiggsfield(key_id="test-id", key_secret="test-secret").start()
    settings.HIGGSFIELD_KEY_ID = "test-id"
    settings.HIGGSFIELD_KEY_SECRET = "test-secret"
    settings.HIGGSFIELD_BASE_URL = server.url
    settings.HIGGSFIELD_TIMEOUT = 2.0
    yield server
    server.stop()
