"""Our side of Higgsfield's account limit: at most HIGGSFIELD_CONCURRENCY of our requests queued or running there at
once, counted in the database (the rows holding a slot: Generation.HOLDING), so every web and worker process sees
the same slots. generation.services hands slots out (generation_pool_fill); this module keeps the pool's row (the
lowered limit, the refusals, the back-off) and the fair order of the jobs waiting.

Higgsfield refuses a submission above the account's limit (400 "Maximum number of concurrent requests (N) has been
reached", or 429 `account_queue_full` with Retry-After on accounts with a queue): that is back-pressure, not a
failure. The job waits again, the pool pauses with back-off and jitter, and after HIGGSFIELD_POOL_SHRINK_AFTER
refusals in a row the pool keeps fewer requests at once (the account's real limit is lower than set, or another
client shares it), growing back one slot per HIGGSFIELD_POOL_REGROW_SECONDS without refusals.
"""

import heapq
import logging
import random
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import SubmissionPool

logger = logging.getLogger(__name__)

POOL = "higgsfield"
# Back-off after a refusal without Retry-After: GENERATION_POLL_FIRST_SECONDS (2 s), doubling per refusal in a row,
# at most this.
BACKOFF_MAX_SECONDS = 60.0


def fair_order(waiting: list[tuple], holding: Counter, served: dict | None = None) -> list:
    """The order in which waiting jobs get slots: round-robin by person. The person holding the fewest slots goes
    first; among equals, the one served longest ago (never served first), then the one whose next job has waited
    longest; a person's own jobs go oldest first. Each slot handed out in this order counts as held and served.

    `waiting` is (job id, owner id) pairs, oldest first; `holding` counts the slots each owner holds now; `served`
    is when each owner last got a slot (any comparable value, such as a datetime).
    """
    served = served or {}
    queues: dict = {}
    for position, (job_id, owner_id) in enumerate(waiting):
        queues.setdefault(owner_id, []).append((position, job_id))

    def last(owner):
        # Never served sorts first, then the longest ago; slots handed out below come after every real one.
        return (0,) if owner not in served else (1, served[owner])

    heap = [(holding.get(owner, 0), last(owner), jobs[0][0], owner) for owner, jobs in queues.items()]
    heapq.heapify(heap)
    cursor = dict.fromkeys(queues, 0)
    order = []
    handed = 0
    while heap:
        held, _, _, owner = heapq.heappop(heap)
        jobs = queues[owner]
        order.append(jobs[cursor[owner]][1])
        cursor[owner] += 1
        handed += 1
        if cursor[owner] < len(jobs):
            heapq.heappush(heap, (held + 1, (2, handed), jobs[cursor[owner]][0], owner))
    return order


def pool_lock() -> SubmissionPool:
    """The pool's row, locked until the transaction ends (made on first use). Call inside transaction.atomic()."""
    pool = SubmissionPool.objects.select_for_update().filter(name=POOL).first()
    if pool is not None:
        return pool
    try:
        with transaction.atomic():
            SubmissionPool.objects.create(name=POOL)
    except IntegrityError:
        pass  # made by another process meanwhile
    return SubmissionPool.objects.select_for_update().get(name=POOL)


def pool_limit(pool: SubmissionPool, now) -> int:
    """How many requests may be queued or running at Higgsfield now; grows a lowered limit back by one slot once
    HIGGSFIELD_POOL_REGROW_SECONDS have passed without a refusal (saves the locked row when it does)."""
    configured = max(1, settings.HIGGSFIELD_CONCURRENCY)
    if pool.limit is None:
        return configured
    quiet = timedelta(seconds=settings.HIGGSFIELD_POOL_REGROW_SECONDS)
    marks = [t for t in (pool.last_refusal_at, pool.limit_changed_at) if t is not None]
    calm_since = max(marks) if marks else None
    if pool.limit < configured and (calm_since is None or now - calm_since >= quiet):
        pool.limit = pool.limit + 1 if pool.limit + 1 < configured else None
        pool.limit_changed_at = now
        pool.save(update_fields=["limit", "limit_changed_at"])
        grown = pool.limit or configured
        logger.info(
            "Higgsfield pool: no capacity refusal for %d s, so up to %d requests at once again (HIGGSFIELD_CONCURRENCY "
            "is %d).",
            settings.HIGGSFIELD_POOL_REGROW_SECONDS,
            grown,
            configured,
        )
        return grown
    return min(pool.limit, configured)


def pool_refused(*, generation_id, status: int | None, retry_after: float | None, accepted_elsewhere: int) -> float:
    """Count a capacity refusal and pause the pool; returns the seconds until submissions go out again.

    `accepted_elsewhere` is how many of our other requests Higgsfield holds now: when refusals keep coming, the
    account's real limit is at most that, and the pool is lowered to it (by one slot at least).
    """
    now = timezone.now()
    with transaction.atomic():
        pool = pool_lock()
        pool.refusals += 1
        pool.refusal_streak += 1
        pool.last_refusal_at = now
        if retry_after is not None:
            # Higgsfield's own wait, and a little more, so that the waiting jobs of every worker do not all come
            # back in the same instant.
            delay = retry_after + random.uniform(0, max(0.5, 0.2 * retry_after))
        else:
            first = settings.GENERATION_POLL_FIRST_SECONDS
            delay = min(first * 2 ** (pool.refusal_streak - 1), BACKOFF_MAX_SECONDS)
            delay *= random.uniform(0.75, 1.25)
        until = now + timedelta(seconds=delay)
        pool.paused_until = max(pool.paused_until or until, until)
        fields = ["refusals", "refusal_streak", "last_refusal_at", "paused_until"]
        current = pool_limit(pool, now)
        if pool.refusal_streak >= settings.HIGGSFIELD_POOL_SHRINK_AFTER and current > 1:
            lowered = max(1, min(current - 1, accepted_elsewhere))
            logger.warning(
                "Higgsfield pool: %d capacity refusals in a row with %d of our requests accepted there: the account's "
                "real limit is lower than HIGGSFIELD_CONCURRENCY (%d) or another client shares it, so the pool now "
                "keeps at most %d at once.",
                pool.refusal_streak,
                accepted_elsewhere,
                settings.HIGGSFIELD_CONCURRENCY,
                lowered,
            )
            pool.limit, pool.limit_changed_at, pool.refusal_streak = lowered, now, 0
            fields += ["limit", "limit_changed_at"]
        pool.save(update_fields=fields)
        refusals = pool.refusals
    logger.warning(
        "Higgsfield refused generation %s for capacity (%s, refusal %d in all): it waits for a slot again; "
        "submissions resume in %.1f s.",
        generation_id,
        status,
        refusals,
        (pool.paused_until - now).total_seconds(),
    )
    return (pool.paused_until - now).total_seconds()


def pool_accepted() -> None:
    """A submission was taken in: the refusals in a row are over."""
    SubmissionPool.objects.filter(name=POOL, refusal_streak__gt=0).update(refusal_streak=0)


def pool_paused(pool: SubmissionPool, now) -> bool:
    return pool.paused_until is not None and pool.paused_until > now
