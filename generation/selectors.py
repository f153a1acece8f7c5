"""Reads of generation jobs, scoped to their owner, and of the style and motion catalogues."""

from django.db.models import QuerySet
from django.http import Http404

from chats.pagination import Page, paginate_by_time

from .models import Generation, Motion, Style


def generation_get(*, user, generation_id) -> Generation:
    try:
        return Generation.objects.select_related("result").get(pk=generation_id, owner=user)
    except Generation.DoesNotExist:
        raise Http404("Generation not found.") from None


def generation_with_result(*, generation_id) -> Generation:
    return Generation.objects.select_related("result").get(pk=generation_id)


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
