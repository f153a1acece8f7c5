"""Words and small facts the chat templates show: labels of models, kinds and states, elapsed time. They format
what the view passed (chats.pages reads what the cards show, once a page); they never query or call services."""

from django import template
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.models import Generation

register = template.Library()

KIND_LABELS = {"text_to_image": "Image", "image_to_video": "Image to video", "text_to_video": "Video"}
STATUS_LABELS = {
    "waiting": "Waiting for a Higgsfield slot",
    "queued": "Queued",
    "submitted": "Waiting at the provider",
    "in_progress": "Generating",
    "completed": "Done",
    "failed": "Failed",
    "nsfw": "Withheld as unsafe",
    "cancelled": "Cancelled",
    "timed_out": "Timed out",
    "unconfirmed": "Not confirmed: not sent again",
}


@register.filter
def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@register.filter
def is_final(generation: Generation) -> bool:
    return generation.status in Generation.FINAL


@register.filter
def can_cancel(generation: Generation) -> bool:
    # Once the provider has started, generation_cancel refuses: no button then.
    return generation.status in (Generation.Status.WAITING, Generation.Status.QUEUED, Generation.Status.SUBMITTED)


@register.filter
def can_retry(generation: Generation) -> bool:
    return generation.status in Generation.RETRYABLE


def _seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@register.filter
def elapsed(generation: Generation) -> str:
    """How long it has run (while active) or took (once ended)."""
    start = generation.created_at
    end = generation.finished_at or timezone.now()
    return _seconds((end - start).total_seconds()) if start else ""


@register.filter
def poll_state(generation: Generation) -> str:
    """The token a running card's poll sends back: the same token again is answered with "no change" (204)."""
    return generation_selectors.poll_state(
        status=generation.status, stage=generation.stage, updated_at=generation.updated_at
    )


@register.filter
def preview_url(option) -> str:
    entry = option.style or option.motion
    return entry.preview_url if entry else ""


@register.filter
def catalogue_name(option) -> str:
    entry = option.style or option.motion
    return entry.name if entry else ""


@register.filter
def credits_words(price: int) -> str:
    return f"{price} credit{'' if price == 1 else 's'}"
