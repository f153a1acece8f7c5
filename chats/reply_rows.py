"""The rows of a reply that both its writer (chats.replies) and the services that start and stop it change:
the option cards it shows, and what a stopped reply keeps."""

from django.db import transaction
from django.utils import timezone

from generation.model_catalogue import model_labels
from generation.models import Motion, Style

from .models import Message, Option


@transaction.atomic
def reply_stop_settle(*, reply: Message, content_text: str | None) -> None:
    """A stopped reply keeps its text so far (`content_text`, or the saved text when None) and none of its
    options but those already generated from (Generation.option cascades, and results are paid for)."""
    Option.objects.filter(message_id=reply.pk, generations__isnull=True).delete()
    kept = list(Option.objects.filter(message_id=reply.pk))
    fields = {"render_payload": render_payload_build(options=kept) if kept else None, "updated_at": timezone.now()}
    if content_text is not None:
        fields["content_text"] = content_text or None
    Message.objects.filter(pk=reply.pk, status=Message.Status.STOPPED).update(**fields)


def render_payload_build(*, options: list[Option]) -> list[dict]:
    """The chunks the external client draws after the prose: per option, its reason and a button."""
    names = _catalogue_names(options)
    labels = model_labels()
    chunks = []
    for option in options:
        model_label = labels.get(option.model_key) or option.model_key
        name = names.get(option.catalogue_id, "")
        label = f"{name} · {model_label}" if name else model_label
        chunks.append({"type": "text", "text": f"{label}: {option.reason}"})
        chunks.append(
            {"type": "button", "label": f"Generate {label}", "option_id": str(option.id), "model": option.model_key}
        )
    return chunks


def _catalogue_names(options: list[Option]) -> dict[str, str]:
    style_ids = {o.style_id for o in options if o.style_id}
    motion_ids = {o.motion_id for o in options if o.motion_id}
    names = {}
    if style_ids:
        names |= {str(pk): name for pk, name in Style.objects.filter(pk__in=style_ids).values_list("pk", "name")}
    if motion_ids:
        names |= {str(pk): name for pk, name in Motion.objects.filter(pk__in=motion_ids).values_list("pk", "name")}
    return names
