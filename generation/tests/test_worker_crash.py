"""A worker killed with SIGKILL in the middle of tracking loses no job: after a restart every job ends."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from generation import services
from generation.models import Generation
from higgs_project.testing import database_url

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = 6


def start_worker(higgsfield, media_root):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "HIGGSFIELD_KEY_ID": "test-id",
        "HIGGSFIELD_KEY_SECRET": "test-secret",
        "HIGGSFIELD_BASE_URL": higgsfield.url,
        # The fake is on loopback: the worker may call it only by name (higgs_project.outbound).
        "OUTBOUND_ALLOW_HOSTS": ",".join(django_settings.OUTBOUND_ALLOW_HOSTS),
        "GENERATION_POLL_FIRST_SECONDS": "0.2",
        "GENERATION_POLL_MAX_SECONDS": "0.3",
        "GENERATION_WATCHDOG_SECONDS": "0.5",
        # Every job at Higgsfield at once, so that the kill lands while all of them are tracked.
        "HIGGSFIELD_CONCURRENCY": str(JOBS),
        "MEDIA_ROOT": str(media_root),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.1"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_jobs_survive_a_worker_killed_mid_tracking(higgsfield, alice, settings, tmp_path):
    higgsfield.work_seconds = 2.5
    settings.HIGGSFIELD_CONCURRENCY = JOBS
    generations = [
        services.generation_request(
            owner=alice, kind="text_to_image", model_key="nano-banana", prompt=f"a lighthouse, take {i}"
        )[0]
        for i in range(JOBS)
    ]
    ids = [g.pk for g in generations]

    worker = start_worker(higgsfield, tmp_path)
    try:
        tracking = wait_for(
            lambda: Generation.objects.filter(pk__in=ids, status__in=["submitted", "in_progress"]).count() == JOBS,
            timeout=30,
        )
        assert tracking, worker.stderr.read1().decode() if worker.poll() is not None else "jobs never got submitted"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert Generation.objects.filter(pk__in=ids, status__in=Generation.ACTIVE).count() == JOBS

    worker = start_worker(higgsfield, tmp_path)
    try:
        ended = wait_for(lambda: not Generation.objects.filter(pk__in=ids, status__in=Generation.ACTIVE).exists(), 40)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert ended, "some jobs never ended after the restart"
    assert sorted(Generation.objects.filter(pk__in=ids).values_list("status", flat=True)) == ["completed"] * JOBS
    # One paid submission per job: the restart did not submit anything twice.
    assert len(higgsfield.submissions) == JOBS
