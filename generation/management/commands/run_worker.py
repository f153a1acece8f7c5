"""`manage.py run_worker`: the background worker for the configured tasks backend, plus the generation watchdog.

The database backend runs django-tasks-db's db_worker; the Redis backend runs django-tasks-redis's
run_redis_tasks (by its class, so it works whether or not that app is installed).

The watchdog runs in a thread every GENERATION_WATCHDOG_SECONDS; several workers may run it at
once (its moves are conditional and planning a step is idempotent).
"""

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.tasks import task_backends
from django.tasks.signals import task_finished, task_started
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string
from django_tasks_db.management.commands.db_worker import Worker as DBWorker
from django_tasks_redis import RedisTaskBackend
from django_tasks_redis.management.commands.run_redis_tasks import Command as RedisWorker

from generation.services import generations_watchdog

logger = logging.getLogger("generation.watchdog")

UPLOADS_CLEANUP_SECONDS = 3600


def _uploads_cleanup_due(last: float | None, now: float) -> bool:
    return last is None or now - last >= UPLOADS_CLEANUP_SECONDS


def _watch(stop: threading.Event) -> None:
    last_cleanup = None
    while not stop.wait(settings.GENERATION_WATCHDOG_SECONDS):
        try:
            close_old_connections()
            counts = generations_watchdog()
            if any(counts.values()):
                logger.info("Watchdog: %s", counts)
            # Hourly, as a task of its own: several workers enqueueing it at once is harmless.
            if _uploads_cleanup_due(last_cleanup, time.monotonic()):
                last_cleanup = time.monotonic()
                for path in settings.WORKER_HOURLY_TASKS:
                    import_string(path).enqueue()
        except Exception:
            logger.exception("Watchdog pass failed")
    connection.close()


def _run_redis_worker(*, interval: float, batch: bool) -> None:
    # Unlike db_worker, this worker never checks for dropped or expired database connections:
    # do it around each task, as Django does around each request.
    for task_signal in (task_started, task_finished):
        task_signal.connect(close_old_connections, sender=RedisTaskBackend)
    try:
        call_command(RedisWorker(), continuous=not batch, interval=interval)
    finally:
        for task_signal in (task_started, task_finished):
            task_signal.disconnect(close_old_connections, sender=RedisTaskBackend)


def _run_db_workers(*, interval: float, threads: int) -> None:
    """Several db_worker loops in threads of this process: tasks wait on the network, not the CPU."""
    workers = [
        DBWorker(
            queue_names=["*"],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        for _ in range(threads)
    ]

    def shutdown(signum, frame):
        logger.warning("Received %s: finishing the running tasks, then stopping.", signal.strsignal(signum))
        for worker in workers:
            worker.running = False

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, shutdown)

    def run(worker):
        try:
            worker.run()
        finally:
            connection.close()

    runners = [threading.Thread(target=run, args=(w,), name=f"worker-{i}") for i, w in enumerate(workers)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()


class Command(BaseCommand):
    help = "Run the background worker (all task queues) with the generation watchdog."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between looks at an empty queue.")
        parser.add_argument("--batch", action="store_true", help="Run what is due, then exit (no watchdog).")
        parser.add_argument(
            "--threads", type=int, default=settings.WORKER_THREADS, help="Task loops in this process (database queue)."
        )

    def handle(self, *args, interval, batch, threads, **options):
        stop = threading.Event()
        if not batch:
            generations_watchdog()
            threading.Thread(target=_watch, args=(stop,), name="watchdog", daemon=True).start()
        try:
            if isinstance(task_backends["default"], RedisTaskBackend):
                _run_redis_worker(interval=interval, batch=batch)
            elif batch or threads <= 1:
                call_command("db_worker", queue_name="*", interval=interval, batch=batch, reload=False)
            else:
                _run_db_workers(interval=interval, threads=threads)
        finally:
            stop.set()
