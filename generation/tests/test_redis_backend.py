"""The Redis tasks backend against the real Redis: `run_worker` runs our tasks from it, deferred ones on time.

Needs Redis at 127.0.0.1:6379 (the tests fail without it); they use db 15 and empty it before and after.
"""

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus, task, task_backends
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from django_tasks_redis import RedisTaskBackend

from generation import services
from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@task()
def note_run(path: str) -> None:
    Path(path).write_text(timezone.now().isoformat())


@pytest.fixture
def redis_queue(settings):
    # Changing TASKS fires setting_changed, which makes django.tasks build the backends afresh.
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_redis.RedisTaskBackend", "OPTIONS": {"REDIS_URL": REDIS_TEST_URL}}
    }
    backend = task_backends["default"]
    assert isinstance(backend, RedisTaskBackend)
    client = backend.get_client()
    client.flushdb()  # raises, and so fails the test, when Redis is not there
    yield client
    client.flushdb()
    client.close()


def run_worker_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the tasks did not get there in time"
        call_command("run_worker", batch=True)
        time.sleep(0.05)


def test_the_worker_runs_tasks_from_redis_and_a_deferred_one_only_when_due(redis_queue, tmp_path):
    now, later = tmp_path / "now", tmp_path / "later"
    due = timezone.now() + timedelta(seconds=2)

    note_run.enqueue(str(now))
    deferred = note_run.using(run_after=due).enqueue(str(later))
    assert redis_queue.dbsize() > 0

    call_command("run_worker", batch=True)

    assert now.exists()
    assert not later.exists()
    deferred.refresh()
    assert deferred.status == TaskResultStatus.READY

    run_worker_until(later.exists)

    assert datetime.fromisoformat(later.read_text()) >= due
    deferred.refresh()
    assert deferred.status == TaskResultStatus.SUCCESSFUL
    assert not DBTaskResult.objects.exists()


def test_a_generation_is_submitted_tracked_and_completed_through_redis(redis_queue, alice, settings):
    settings.HIGGSFIELD_KEY_ID = settings.HIGGSFIELD_KEY_SECRET = ""  # the preview provider

    generation, created = services.generation_request(
        owner=alice, kind="text_to_image", model_key="nano-banana", prompt="a lighthouse on a cliff"
    )

    assert created
    run_worker_until(lambda: Generation.objects.get(pk=generation.pk).status not in Generation.ACTIVE)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETED
    assert generation.result is not None
    # Tracking took several deferred steps, all of them through Redis.
    assert generation.polls >= 1
    assert not DBTaskResult.objects.exists()
