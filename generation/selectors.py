"""Reads of generation jobs, scoped to their owner, and of the style and motion catalogues."""

import zlib

from django.db.models import DateTimeField, F, OuterRef, Q, QuerySet, Subquery, Value
from django.http import Http404

from higgs_project.apikit.pagination import Page, paginate_by_time

from .models import Generation, Motion, Style

GENERATION_NOT_FOUND = "Generation not found."


def generation_of(*, user_id, generation_id) -> QuerySet[Generation]:
    """One of a person's jobs with its result file, as a queryset (of one, or none for another person's job): a
    view reads it with `.get()`, an async view with `await .aget()`."""
    return Generation.objects.select_related("result").filter(pk=generation_id, owner_id=user_id)


def generation_get(*, user, generation_id) -> Generation:
    """The user's job (generation_of), or 404: another person's job does not exist for them."""
    try:
        return generation_of(user_id=user.pk, generation_id=generation_id).get()
    except Generation.DoesNotExist:
        raise Http404(GENERATION_NOT_FOUND) from None


def poll_state(*, status: str, stage: str, updated_at) -> str:
    """A short token that changes whenever what a running job's card shows could change."""
    return f"{status}.{updated_at.timestamp():.6f}.{zlib.crc32(stage.encode()):x}"


async def generation_poll_state(*, user_id, generation_id) -> str | None:
    """The poll token (`poll_state`) of one of `user_id`'s jobs, from one small query of the three columns it is
    made of; None for a job that is not theirs."""
    try:
        row = await Generation.objects.values("status", "stage", "updated_at").aget(pk=generation_id, owner_id=user_id)
    except Generation.DoesNotExist:
        return None
    return poll_state(**row)


def generations_live(*, dedupe_keys) -> QuerySet[Generation]:
    """The live jobs (running, or done with a result) of these requests: the same request again is that job."""
    return Generation.objects.filter(dedupe_key__in=dedupe_keys, status__in=Generation.LIVE)


def generation_latest_result(*, option) -> Generation | None:
    return (
        Generation.objects.select_related("result")
        .filter(option=option, status=Generation.Status.COMPLETED, result__isnull=False)
        .order_by("-finished_at")
        .first()
    )


def generation_list(*, user, chat_id=None, option_id=None, limit: int, cursor: str | None = None) -> Page:
    """The user's generations, newest first."""
    qs = Generation.objects.filter(owner=user).select_related("result")
    if chat_id:
        qs = qs.filter(chat_id=chat_id)
    if option_id:
        qs = qs.filter(option_id=option_id)
    return paginate_by_time(qs, kind="generations", field="created_at", limit=limit, cursor=cursor, newest_first=True)


# The gallery's filters: what each shows, by the result's kind ("" shows all).
GALLERY_KINDS = {"": None, "image": "image", "video": "video"}


def generation_gallery(*, user, kind: str = "", limit: int, cursor: str | None = None) -> Page:
    """The user's finished results, newest first, for the gallery: one query a page, with the file and the chat.

    Failed and running jobs are not gallery items; `kind` ("image", "video" or "" for both) picks the results.
    """
    if kind not in GALLERY_KINDS:
        raise ValueError(f"Unknown kind {kind!r}: pass image, video or nothing.")
    qs = Generation.objects.filter(owner=user, status=Generation.Status.COMPLETED, result__isnull=False)
    if GALLERY_KINDS[kind]:
        qs = qs.filter(result__kind=GALLERY_KINDS[kind])
    qs = qs.select_related("result", "chat")
    return paginate_by_time(qs, kind="gallery", field="created_at", limit=limit, cursor=cursor, newest_first=True)


def style_list(*, enabled_only: bool = True) -> QuerySet[Style]:
    styles = Style.objects.all()
    if enabled_only:
        styles = styles.filter(enabled=True)
    return styles.order_by("sort_order", "name")


def motion_list(*, enabled_only: bool = True) -> QuerySet[Motion]:
    motions = Motion.objects.all()
    if enabled_only:
        motions = motions.filter(enabled=True)
    return motions.order_by("sort_order", "name")


# What each of a person's generations says of their taste (recommender.taste learns from these).
CHOICE_FIELDS = (
    "since",
    "created_at",
    "option_id",
    "option__message_id",
    "kind",
    "model_key",
    "style_id",
    "motion_id",
    "parameters",
    "status",
    "retry_of_id",
    "downloaded_at",
    "image_url",
    "result__file",
    "option__style__name",
    "option__motion__name",
    "asked_model",
)


def generation_choices_query(*, owner, since=None, limit: int) -> QuerySet:
    """A person's newest generations (newest first, at most `limit`), as plain facts: the option each came from,
    what became of it (cancelled, retried, downloaded, animated later), and the model the person had picked in
    the composer for that message (`asked_model`). Those made before `since` are left out. `owner` (an id) and
    `since` (a time, or None for all) may be query expressions, so that a caller reads it all in one query."""
    from chats.models import Message

    asked = Subquery(
        Message.objects.filter(
            chat_id=OuterRef("option__message__chat_id"), position=OuterRef("option__message__position") - 1
        ).values("preferred_model")[:1]
    )
    return (
        Generation.objects.filter(owner_id=owner)
        .annotate(since=since if since is not None else Value(None, output_field=DateTimeField()), asked_model=asked)
        .filter(Q(since__isnull=True) | Q(created_at__gt=F("since")))
        .order_by("-created_at")
        .values(*CHOICE_FIELDS)[:limit]
    )
