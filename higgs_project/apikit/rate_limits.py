"""Per-person rate limits (RATE_LIMIT_MESSAGES, RATE_LIMIT_GENERATIONS), counted from the rows the person made.

Counting the person's own recent rows in the database is exact and holds across any number of
web processes, which a per-process cache would not; it needs no table of its own.
"""

import math
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+|second|minute|hour|day)s?\s*$")


class RateLimited(Exception):
    """Too many requests in the window; `retry_after` is how many seconds until the next one is accepted.

    Each app's refusal type mixes this in, so its pages show the words and the API answers 429.
    """

    retry_after: int = 1


def rate_parse(value, *, setting: str) -> tuple[int, int] | None:
    """("30/minute" or "30/60") -> (30, 60) requests per seconds; None when the limit is off (empty or 0)."""
    value = str(value or "").strip()
    if value in ("", "0"):
        return None
    match = _RATE.match(value)
    if match is None:
        raise ImproperlyConfigured(
            f"{setting} must look like 30/minute (second, minute, hour, day) or 30/60 (seconds); got {value!r}."
        )
    count, window = int(match[1]), match[2]
    seconds = UNITS[window] if window in UNITS else int(window)
    if count == 0 or seconds == 0:
        return None
    return count, seconds


def rate_wait(*, setting: str, recent, field: str = "created_at") -> int:
    """Seconds to wait before one more row may be made under the limit in `setting` (0: go ahead).

    `recent` is a queryset of the person's rows, timed by `field`; when the window already holds
    `count` of them, the next is accepted once the oldest of those leaves the window.
    """
    limit = rate_parse(getattr(settings, setting), setting=setting)
    if limit is None:
        return 0
    count, seconds = limit
    now = timezone.now()
    window = timedelta(seconds=seconds)
    oldest_counted = (
        recent.filter(**{f"{field}__gt": now - window})
        .order_by(f"-{field}")
        .values_list(field, flat=True)[count - 1 : count]
    )
    oldest = next(iter(oldest_counted), None)
    if oldest is None:
        return 0
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def wait_words(seconds: int) -> str:
    """20 -> "20 seconds", 1 -> "1 second", 600 -> "10 minutes"."""
    if seconds >= 90:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"
