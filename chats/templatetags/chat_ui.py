"""Words and small facts the chat templates show: labels of models, kinds and states, elapsed time."""

from django import template
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.model_catalogue import model_labels
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
def model_label(key: str) -> str:
    return model_labels().get(key, key)


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


@register.simple_tag(takes_context=True)
def take_price(context, generation: Generation) -> int:
    """What another take of this job costs now; read once per model in a page."""
    from generation.credits import generation_price

    prices = context.render_context.setdefault("take_prices", {})
    if generation.model_key not in prices:
        prices[generation.model_key] = generation_price(model_key=generation.model_key)
    return prices[generation.model_key]


@register.simple_tag
def generation_look(generation: Generation) -> str:
    """The name of the style or motion a generation used ('' when none)."""
    from generation.selectors import motion_list, style_list

    if generation.style_id:
        entry = style_list(enabled_only=False).filter(pk=generation.style_id).first()
    elif generation.motion_id:
        entry = motion_list(enabled_only=False).filter(pk=generation.motion_id).first()
    else:
        return ""
    return entry.name if entry else ""


@register.simple_tag
def composer_setup() -> dict:
    """What the composer offers: the modes and models to prefer, and the images it can upload."""
    from django.conf import settings

    from chats.forms import MODES, composer_model_groups
    from chats.services import MESSAGE_MAX_LENGTH
    from chats.uploads import EXTENSIONS

    return {
        "modes": MODES,
        "max_length": MESSAGE_MAX_LENGTH,
        "models": composer_model_groups(),
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "max_megabytes": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
        "image_types": ",".join(mime for mime in EXTENSIONS if mime.startswith("image/")),
    }


def _card_reads(context):
    """The models, prices and balance the cards of one page share, read once per page."""
    from chats.option_cards import CardReads

    # The bottom of the render context lasts the whole render; each partial pushes a scope of its own above it.
    page = context.render_context.dicts[0]
    if "card_reads" not in page:
        page["card_reads"] = CardReads(context["request"].user)
    return page["card_reads"]


@register.simple_tag(takes_context=True)
def option_card(context, option):
    """What an option's card shows: its models, controls, price and whether the balance pays it."""
    from chats.option_cards import option_card as card_of

    return card_of(_card_reads(context), option)


@register.simple_tag(takes_context=True)
def price_refusal(context, price: int) -> str:
    """Why a button of this price is off ('Needs 12 credits; you have 5.'), or '' when the balance pays it."""
    from chats.option_cards import price_refusal as refusal

    return refusal(price, _card_reads(context).balance)


@register.filter
def credits_words(price: int) -> str:
    return f"{price} credit{'' if price == 1 else 's'}"
