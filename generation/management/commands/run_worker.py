"""`manage.py run_worker`: the background worker: django-tasks-db's db_worker plus the generation watchdog.

The watchdog runs in a thread every GENERATION_WATCHDOG_SECONDS; several workers may run it at
once (its moves are conditional and planning a step is idempotent).
"""

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from generation.services import generations_watchdog

logger = logging.getLogger("generation.watchdog")


def _watch(stop: threading.Event) -> None:
    while not stop.wait(settings.GENERATION_WATCHDOG_SECONDS):
        try:
            close_old_connections()
            counts = generations_watchdog()
            if any(counts.values()):
                logger.info("Watchdog: %s", counts)
        except Exception:
            logger.exception("Watchdog pass failed")
    connection.close()


class Command(BaseCommand):
    help = "Run the background worker (all task queues) with the generation watchdog."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between looks at an empty queue.")
        parser.add_argument("--batch", action="store_true", help="Run what is due, then exit (no watchdog).")

    def handle(self, *args, interval, batch, **options):
        stop = threading.Event()
        if not batch:
            generations_watchdog()
            threading.Thread(target=_watch, args=(stop,), name="watchdog", daemon=True).start()
        try:
            call_command("db_worker", queue_name="*", interval=interval, batch=batch, reload=False)
        finally:
            stop.set()
