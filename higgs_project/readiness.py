"""What /api/health/ready looks at: the database, the media storage and the task queue.

Each check answers `{"status": "ok" | "error" | "not measured", ...}` with a plain reason when it fails:
never an exception's text, which may carry a host name, a bucket or a credential.
"""

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count, Min, Q
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django.utils import timezone

logger = logging.getLogger(__name__)

# A storage that hangs (an unreachable bucket) must not hang the probe, nor the requests behind it.
STORAGE_TIMEOUT_SECONDS = 5.0
# A storage that answered lately is taken as fine, so a probe every few seconds costs S3 few requests.
STORAGE_OK_FOR_SECONDS = 30.0
PROBE_CONTENT = b"ok"

_storage_probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-probe")
_storage_ok_at: float | None = None


def _ok(**facts) -> dict:
    return {"status": "ok", **facts}


def _error(detail: str, **facts) -> dict:
    return {"status": "error", "detail": detail, **facts}


def database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("Readiness: the database does not answer")
        return _error("The database does not answer.")
    return _ok()


def _storage_probe() -> None:
    """Write, read back and delete a tiny file: proves the storage takes new media, not only that it exists."""
    name = default_storage.save(f"health/probe-{uuid.uuid4().hex}.txt", ContentFile(PROBE_CONTENT))
    try:
        with default_storage.open(name, "rb") as probe:
            if probe.read() != PROBE_CONTENT:
                raise OSError("the probe file came back different")
    finally:
        default_storage.delete(name)


def storage_check() -> dict:
    global _storage_ok_at
    if _storage_ok_at is not None and time.monotonic() - _storage_ok_at < STORAGE_OK_FOR_SECONDS:
        return _ok()
    try:
        _storage_probes.submit(_storage_probe).result(timeout=STORAGE_TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.error("Readiness: the media storage did not answer within %s s", STORAGE_TIMEOUT_SECONDS)
        return _error(f"The media storage did not answer within {STORAGE_TIMEOUT_SECONDS:g} s.")
    except Exception:
        logger.exception("Readiness: the media storage refused a probe file")
        return _error("The media storage cannot write, read or delete files.")
    _storage_ok_at = time.monotonic()
    return _ok()


def _queue_verdict(*, backend: str, due: int, oldest_seconds: float, **facts) -> dict:
    facts = {"backend": backend, "due": due, "oldest_due_seconds": round(oldest_seconds, 1), **facts}
    if oldest_seconds > settings.READY_QUEUE_MAX_AGE:
        return _error(
            f"The oldest task due has waited {oldest_seconds:.0f} s (limit {settings.READY_QUEUE_MAX_AGE} s): "
            "are the workers running?",
            **facts,
        )
    if due > settings.READY_QUEUE_MAX_BACKLOG:
        limit = settings.READY_QUEUE_MAX_BACKLOG
        return _error(f"{due} tasks are due (limit {limit}): the workers cannot keep up.", **facts)
    return _ok(**facts)


def _database_queue(alias: str) -> dict:
    from django_tasks_db.models import DBTaskResult, get_date_max

    never = get_date_max()
    # A task without run_after waits from when it was enqueued; a deferred one from its run_after.
    found = (
        DBTaskResult.objects.ready()
        .filter(backend_name=alias)
        .aggregate(
            due=Count("pk"),
            oldest_enqueued=Min("enqueued_at", filter=Q(run_after=never)),
            oldest_run_after=Min("run_after", filter=~Q(run_after=never)),
        )
    )
    waiting_since = [t for t in (found["oldest_enqueued"], found["oldest_run_after"]) if t is not None]
    oldest = (timezone.now() - min(waiting_since)).total_seconds() if waiting_since else 0.0
    return _queue_verdict(backend="database", due=found["due"], oldest_seconds=max(oldest, 0.0))


def _redis_queue(backend) -> dict:
    # Counted from the backend's status index: a few Redis commands, however long the queue.
    stats = backend.get_queue_stats()
    due = max(stats["pending_count"] - stats["delayed_count"], 0)
    since = stats["oldest_pending_waiting_since"]
    oldest = max((timezone.now() - since).total_seconds(), 0.0) if since is not None else 0.0
    return _queue_verdict(
        backend="redis", due=due, oldest_seconds=oldest, running=stats["running_count"], delayed=stats["delayed_count"]
    )


def queue_check() -> dict:
    from django_tasks_db import DatabaseBackend
    from django_tasks_redis import RedisTaskBackend

    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    try:
        if isinstance(backend, DatabaseBackend):
            return _database_queue(backend.alias)
        if isinstance(backend, RedisTaskBackend):
            return _redis_queue(backend)
    except Exception:
        logger.exception("Readiness: the task queue could not be measured")
        return _error("The task queue does not answer.")
    return {"status": "not measured", "backend": type(backend).__name__}


def readiness_checks() -> tuple[bool, dict]:
    """(ready, the checks by name); ready when no check failed ("not measured" is no failure)."""
    checks = {"database": database_check(), "storage": storage_check(), "queue": queue_check()}
    return all(check["status"] != "error" for check in checks.values()), checks
